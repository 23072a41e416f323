"""Certbot DNS-01 authenticator for domains hosted at Cloudflare."""
