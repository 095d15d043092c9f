"""The local stack (``make run``): API Gateway, Lambda, SQS and DynamoDB on one machine.

Not shipped in the Lambda layer (the layer's Makefile leaves it out).
"""
