// @switchyard/gateway: the Hono app, routing and backends. It builds on
// @switchyard/handlers; its app lands with the gateway issue, and until then the
// package only takes part in the build.
export {};
