#pragma once
// Spam/ham learning (issue 18): when a user moves mail into the junk folder over IMAP, home
// has rspamd learn it as spam (`POST /learnspam` to rspamd's controller); moved out of the junk
// folder (anywhere but Trash) it is learned as ham (`/learnham`). The controller is the
// relay's rspamd, reached over the tunnel (`learn.rspamd_controller` in home.toml) with the
// controller password (`Password:` header, `learn.rspamd_password_file`).
//
// Guarantees: IMAP never waits for rspamd. Requests queue (at most `max_queue`, and at most a
// quarter of it per user, so one user's MOVE of a big folder cannot crowd out the others'
// learns; more are dropped with one warning per batch) and one worker thread sends them one at
// a time, each within `timeout` (connect, send, answer). The message is read from its Maildir
// file while it is sent, 64 KiB at a time, never whole; a file gone before its turn (expunged
// meanwhile) is skipped. When rspamd cannot be reached (relay rebooting, tunnel down) the
// request stays queued and learning pauses, retried after `retry_first`, doubling up to
// `retry_max`: one warning when the pause starts, one line when rspamd answers again.
// Every other outcome is logged per message: learned, already learned, refused (HTTP status
// and rspamd's error text; not retried).
// Does not: learn APPENDed or COPYed-from-outside mail, keep the queue across a restart, or keep
// per-user statistics (one shared Bayes).
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
    std::chrono::milliseconds retry_first{5000}; // rspamd unreachable: first pause
    std::chrono::milliseconds retry_max{300000}; // longest pause
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
    // Blocks until nothing is queued or being sent, or learning is paused because rspamd
    // cannot be reached (tests, shutdown of tools).
    void drain();
    bool paused() const;                                   // waiting for rspamd to come back
    std::size_t queued_for(const std::string& user) const; // requests of `user` waiting

private:
    struct job {
        kind k;
        std::string user;
        std::filesystem::path file;
    };
    void run();
    // false: rspamd could not be reached (`error` says why); the job is to be retried.
    bool send(const job& j, std::string& error);

    settings s_;
    mutable std::mutex mu_;
    std::condition_variable cv_, idle_cv_;
    std::deque<job> queue_;
    bool busy_ = false;
    bool stopping_ = false;
    bool paused_ = false;
    std::thread worker_;
};

} // namespace splitmail::home::learn
