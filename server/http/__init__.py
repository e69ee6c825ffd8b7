"""The HTTP edge: the error tree and its envelope, input checks, OpenAPI, headers, pages."""
