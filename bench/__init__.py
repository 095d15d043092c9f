"""``make bench``: bannercheck side by side with swaks, nmap and bare clients on a loopback lab."""
