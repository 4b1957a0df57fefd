"""The Xero API as the pipeline uses it: settings, OAuth2 with a durable token store, and a client
that pages, reads incrementally, paces itself under Xero's limits and retries what is worth it."""
