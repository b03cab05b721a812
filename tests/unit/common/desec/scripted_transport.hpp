#pragma once
// A desec::transport that answers from a script and records every request, for client and
// agent tests without sockets.
#include <deque>
#include <functional>
#include <stdexcept>
#include <vector>

#include "splitmail/desec/transport.hpp"

namespace splitmail::desec::testing {

class scripted_transport : public transport {
public:
    using handler = std::function<std::expected<http_response, error>(const http_request&)>;

    // Answers in order; when the queue is empty, `fallback` answers (or the test fails).
    void push(int status, std::string body, std::map<std::string, std::string> headers = {}) {
        http_response r;
        r.status = status;
        r.body = std::move(body);
        r.headers = std::move(headers);
        queue_.push_back([r](const http_request&) { return r; });
    }
    void push_error(error_kind k, std::string message) {
        queue_.push_back([k, message](const http_request&) -> std::expected<http_response, error> {
            error e;
            e.kind = k;
            e.message = message;
            return std::unexpected(e);
        });
    }
    void push(handler h) { queue_.push_back(std::move(h)); }
    handler fallback;

    std::expected<http_response, error> perform(const http_request& r) override {
        requests.push_back(r);
        if (!queue_.empty()) {
            auto h = std::move(queue_.front());
            queue_.pop_front();
            return h(r);
        }
        if (fallback) return fallback(r);
        throw std::runtime_error("unexpected request: " + r.method + " " + r.url);
    }
    std::size_t pending() const { return queue_.size(); }

    std::vector<http_request> requests;

private:
    std::deque<handler> queue_;
};

} // namespace splitmail::desec::testing
