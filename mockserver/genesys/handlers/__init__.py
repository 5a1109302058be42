"""The GWS operations, one module per operationId prefix (`gwsEmail` → `emails`, `gwsMe` → `me`,
`gwsNotifications` → `notifications`): mockserver.routing finds a handler by that prefix and its name."""
