// relay/dns: many threads asking one unbound_resolver at once, as the relay's pool does under
// load (DKIM keys, DMARC records, PTRs of concurrent sessions). Every query must get its own
// answer, and no answer may touch a query that has already returned: the callback used to read
// the finished query's stack frame after releasing the lock, which crashed the relay in
// pthread_cond_broadcast under the --auth bench (dmesg: "segfault at 73 ... in libc.so.6").
// A race cannot be forced; this test makes it likely (thousands of answers arriving while other
// queries end) so the sanitizer pass and a crash would show it.
#include "dns/resolver.hpp"

#include "unit/relay/slow_dns.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace splitmail::relay;
using splitmail::relay::test::slow_dns;

TEST(resolver_threads, every_concurrent_query_gets_its_answer) {
    slow_dns server(std::chrono::milliseconds(0));
    constexpr int threads = 8, per_thread = 250;
    auto r = dns::unbound_resolver::create({server.address(), threads});
    ASSERT_TRUE(r) << r.error();
    std::atomic<int> nxdomain{0}, other{0};
    std::vector<std::thread> askers;
    for (int t = 0; t < threads; ++t)
        askers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                // distinct names: no answer comes from libunbound's cache
                const auto name =
                    "q" + std::to_string(i) + "-" + std::to_string(t) + "._domainkey.example.test";
                auto a = (*r)->query_raw(name, 16);
                if (a.st == dns::unbound_resolver::raw_answer::status::nxdomain)
                    ++nxdomain;
                else
                    ++other;
            }
        });
    for (auto& a : askers) a.join();
    EXPECT_EQ(nxdomain.load(), threads * per_thread);
    EXPECT_EQ(other.load(), 0);
    EXPECT_GE(server.queries.load(), threads * per_thread);
}
