#pragma once
// http-01 (RFC 8555 8.3): a minimal HTTP/1.1 responder that serves key authorizations at
// /.well-known/acme-challenge/<token> and nothing else, as a challenge_solver.
//
// Guarantees: the answer is a pure function of the request head and the tokens presented
// (http01_answer, fuzzed and unit-tested); only GET and HEAD of a presented token get 200 with
// the key authorization (Content-Type application/octet-stream); other paths 404, other methods
// 405, an unreadable head 400. A request head is at most 8 KiB and must arrive within 5
// seconds; one connection at a time (the CA's validators make a handful of requests), each
// closed after its answer. The listener binds in listen(), so a busy port is an error at once.
// Does not: TLS, keep-alive, redirects, or serve anything but challenges (MTA-STS and
// autoconfig on port 80 are a later step).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "splitmail/acme/client.hpp"

namespace splitmail::acme {

// The complete HTTP/1.1 response to `head` (request line + headers), given token -> key
// authorization.
std::string http01_answer(std::string_view head, const std::map<std::string, std::string>& tokens);

class http01_solver final : public challenge_solver {
public:
    // Binds `address`:`port` ("127.0.0.1", "::", "0.0.0.0") and starts serving.
    static result<std::unique_ptr<http01_solver>> listen(const std::string& address,
                                                         std::uint16_t port);
    ~http01_solver() override;
    http01_solver(const http01_solver&) = delete;
    http01_solver& operator=(const http01_solver&) = delete;

    std::string type() const override { return "http-01"; }
    result<> present(std::span<const challenge_task> tasks) override;
    void cleanup(std::span<const challenge_task> tasks) override;
    std::size_t requests_served() const noexcept { return served_; }

private:
    explicit http01_solver(int fd);
    void run();

    int fd_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> served_{0};
    std::mutex mutex_;
    std::map<std::string, std::string> tokens_;
    std::thread thread_;
};

} // namespace splitmail::acme
