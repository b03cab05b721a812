#pragma once
// Spam/ham learning (issue 18): when a user moves mail into the junk folder over IMAP, home
// has rspamd learn it as spam (`POST /learnspam` to rspamd's controller); moved out of the junk
// folder (anywhere but Trash) it is learned as ham (`/learnham`). The controller is the
// relay's rspamd, reached over the tunnel (`learn.rspamd_controller` in home.toml) with the
// controller password (`Password:` header, `learn.rspamd_password_file`).
//
// Guarantees: IMAP never waits for rspamd. Requests queue (at most `max_queue`; more are
// dropped with a warning) and one worker thread sends them one at a time, each within
// `timeout` (connect, send, answer). The message is read from its Maildir file while it is
// sent, 64 KiB at a time, never whole; a file gone before its turn (expunged meanwhile) is
// skipped. Every outcome is logged: learned, already learned, refused (HTTP status and
// rspamd's error text), unreachable.
// Does not: retry (a failed learn is logged and dropped; the mail itself is never touched),
// learn APPENDed or COPYed-from-outside mail, or keep per-user statistics (one shared Bayes).
#include "splitmail/net/http.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace splitmail::home::learn {

enum class kind { spam, ham };

std::string_view to_string(kind k);

// "POST /learnspam HTTP/1.1" (or /learnham) announcing `length` octets of message.
std::string request_head(kind k, std::string_view host, std::string_view password,
                         std::uint64_t length);

struct outcome {
    enum class what { learned, already, refused } result = what::refused;
    std::string detail; // rspamd's error text, or the HTTP status for an answer without one
};

// What rspamd's controller answered: 200 {"success":true} is learned; 208, or an error saying
// "already learned", is already; anything else is refused.
outcome read_answer(const net::http_response& r);

struct settings {
    std::string controller; // host:port of rspamd's controller
    std::string password;   // sent as Password: (empty: none; rspamd's secure_ip then decides)
    std::chrono::milliseconds timeout{10000};
    std::size_t max_queue = 1000;
};

class rspamd_learner {
public:
    explicit rspamd_learner(settings s);
    // Stops the worker: queued requests are dropped (logged with their number); the one being
    // sent finishes or runs into its timeout.
    ~rspamd_learner();
    rspamd_learner(const rspamd_learner&) = delete;
    rspamd_learner& operator=(const rspamd_learner&) = delete;

    // Queues the files of one COPY/MOVE (thread-safe, never blocks on the network). What does
    // not fit under max_queue is dropped with one warning for the whole batch (a MOVE of a
    // 100k-message folder must not write 100k log lines).
    void submit(kind k, const std::string& user, std::vector<std::filesystem::path> files);
    // Blocks until nothing is queued or being sent (tests, shutdown of tools).
    void drain();

private:
    struct job {
        kind k;
        std::string user;
        std::filesystem::path file;
    };
    void run();
    void send(const job& j);

    settings s_;
    std::mutex mu_;
    std::condition_variable cv_, idle_cv_;
    std::deque<job> queue_;
    bool busy_ = false;
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace splitmail::home::learn
