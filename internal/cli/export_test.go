package cli

// Golden compares out with testdata/<name>.golden (or rewrites it with -update), for the
// end-to-end tests of package cli_test.
var Golden = golden
