"""Stand-ins for Cloudflare, a nameserver, pebble and certbot, used by the tests."""
