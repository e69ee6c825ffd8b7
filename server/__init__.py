"""Tandem's HTTP side: settings, the app's composition root, auth, rate limits and the CLI."""
