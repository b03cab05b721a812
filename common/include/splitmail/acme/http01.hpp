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
// http01_webroot_solver is the other way: it writes each key authorization to DIR/<token> for
// a web server that already owns port 80 — splitmail-relay's `http.listen`, which answers
// from `http.challenge_dir` with http01_answer — and removes the files after.
// Does not: TLS, keep-alive, redirects, or serve anything but challenges (MTA-STS and
// autoconfig on port 80 are a later step).
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
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
// The same, the key authorization of a token found by `lookup` (called only with a token
// valid_token() accepts; nullopt: 404).
using token_lookup = std::function<std::optional<std::string>(std::string_view token)>;
std::string http01_answer(std::string_view head, const token_lookup& lookup);

// The key authorization in DIR/<token> (a regular file of at most 4 KiB, not a symlink;
// trailing whitespace removed), nullopt for anything else: what the relay's port 80 serves.
std::optional<std::string> read_webroot_token(const std::filesystem::path& dir,
                                              std::string_view token);

class http01_webroot_solver final : public challenge_solver {
public:
    // `dir` must exist (the relay's http.challenge_dir, made by its package / provision).
    explicit http01_webroot_solver(std::filesystem::path dir) : dir_(std::move(dir)) {}
    std::string type() const override { return "http-01"; }
    // Writes DIR/<token> (mode 0644: the relay reads it as its own user), atomically.
    result<> present(std::span<const challenge_task> tasks) override;
    void cleanup(std::span<const challenge_task> tasks) override;

private:
    std::filesystem::path dir_;
};

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
