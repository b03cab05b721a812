#pragma once
// A blocking line client for the short SMTP/LMTP conversations of `splitmail check` and
// `splitmail setup` (greeting, LHLO/EHLO, a RCPT probe, QUIT) with a time limit per step.
//
// Guarantees: every connect, send and read waits at most `limit`; a reply is read up to its
// last line ("NNN text") and at most 8 KiB are buffered; IP literals only (no DNS lookups).
// Does not: speak TLS, or parse replies beyond finding their last line.
#include <chrono>
#include <optional>
#include <string>

namespace splitmail::provision::check {

class line_client {
public:
    explicit line_client(std::chrono::milliseconds limit) : limit_(limit) {}
    ~line_client();
    line_client(const line_client&) = delete;
    line_client& operator=(const line_client&) = delete;

    // Connects to "ip:port" or "[ip6]:port": "" when connected, else why not.
    std::string open(const std::string& host_port);
    // Sends all of `line` (CRLF included by the caller); false on timeout or error.
    bool send(const std::string& line);
    // The lines of one reply up to the last ("NNN text"), joined by " / "; nullopt on timeout
    // or EOF.
    std::optional<std::string> reply();

private:
    std::chrono::milliseconds limit_;
    int fd_ = -1;
    std::string buf_;
};

} // namespace splitmail::provision::check
