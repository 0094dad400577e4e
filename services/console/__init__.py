"""The staff console: community staff and administrators run their month in a browser, through
the services' APIs with their own sign-in (docs/console.md)."""
