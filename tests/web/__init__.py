"""Browser tests of the web UI, in Debian's Chromium driven by Playwright."""
