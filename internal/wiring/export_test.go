package wiring

// The environment helpers, for the external tests (clients_test.go).
var (
	Env     = env
	FullEnv = fullEnv
)
