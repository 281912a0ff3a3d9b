// Package redistest runs a real redis-server for tests, on a loopback port,
// the way net/http/httptest runs HTTP servers.
//
// A package whose tests need Redis wraps its TestMain:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(redistest.Wrap(m)) }
//
// and each test asks for the address with Addr(t). When redis-server is not
// installed, those tests are skipped, unless LLMGATEWAY_REQUIRE_REDIS=1
// (as `make test` and CI set it), in which case they fail. When
// LLMGATEWAY_TEST_REDIS_ADDR is already set, the tests use that server and
// none is started.
package redistest
