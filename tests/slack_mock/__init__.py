"""A local stand-in for Slack: Web API and response_url on a free loopback port,
plus signed request builders (API Gateway HTTP API events)."""
