"""Internals of certbot-dns-cloudflare-ext; nothing here is a public API."""
