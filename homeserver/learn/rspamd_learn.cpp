// Spam/ham learning through rspamd's controller; see rspamd_learn.hpp.
#include "learn/rspamd_learn.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace splitmail::home::learn {
namespace {

namespace asio = boost::asio;
constexpr std::size_t max_answer = 64 * 1024; // a controller's answer is a line of JSON

struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

std::string lower(std::string s) {
    for (auto& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return s;
}

} // namespace

std::string_view to_string(kind k) { return k == kind::spam ? "spam" : "ham"; }

std::string request_head(kind k, std::string_view host, std::string_view password,
                         std::uint64_t length) {
    std::string h =
        k == kind::spam ? "POST /learnspam HTTP/1.1\r\n" : "POST /learnham HTTP/1.1\r\n";
    h += "Host: " + net::http_header_value(host) + "\r\n";
    h += "Connection: close\r\n";
    if (!password.empty()) h += "Password: " + net::http_header_value(password) + "\r\n";
    h += "Content-Length: " + std::to_string(length) + "\r\n\r\n";
    return h;
}

outcome read_answer(const net::http_response& r) {
    outcome o;
    std::string error;
    bool success = false;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_object()) {
        if (auto it = j.find("success"); it != j.end() && it->is_boolean())
            success = it->get<bool>();
        if (auto it = j.find("error"); it != j.end() && it->is_string())
            error = it->get<std::string>();
    }
    if (error.size() > 300) error.resize(300);
    if (r.status >= 200 && r.status < 300 && r.status != 208 && success) {
        o.result = outcome::what::learned;
        return o;
    }
    // rspamd answers 208 (Already Reported) when the message's digest was learned before.
    if (r.status == 208 || lower(error).find("already learned") != std::string::npos) {
        o.result = outcome::what::already;
        o.detail = error;
        return o;
    }
    o.result = outcome::what::refused;
    o.detail = error.empty() ? "HTTP " + std::to_string(r.status) : error;
    return o;
}

rspamd_learner::rspamd_learner(settings s) : s_(std::move(s)) {
    worker_ = std::thread([this] { run(); });
}

rspamd_learner::~rspamd_learner() {
    std::size_t dropped = 0;
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
        dropped = queue_.size();
        queue_.clear();
    }
    cv_.notify_all();
    idle_cv_.notify_all();
    worker_.join();
    if (dropped > 0)
        log::warn("learn", "-", "stopping: queued learn requests dropped", {{"count", dropped}});
}

void rspamd_learner::submit(kind k, const std::string& user,
                            std::vector<std::filesystem::path> files) {
    std::size_t dropped = 0, queued = 0;
    {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        const std::size_t per_user = std::max<std::size_t>(1, s_.max_queue / 4);
        std::size_t mine = 0;
        for (const auto& j : queue_) mine += j.user == user ? 1 : 0;
        for (auto& f : files) {
            if (queue_.size() >= s_.max_queue || mine >= per_user) {
                ++dropped;
                continue;
            }
            queue_.push_back({k, user, std::move(f)});
            ++mine;
        }
        queued = queue_.size();
    }
    cv_.notify_one();
    if (dropped > 0)
        log::warn("learn", "-", "queue full: learn requests dropped",
                  {{"user", user},
                   {"as", std::string(to_string(k))},
                   {"dropped", dropped},
                   {"queued", queued}});
}

void rspamd_learner::drain() {
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [this] { return stopping_ || (!busy_ && (paused_ || queue_.empty())); });
}

std::size_t rspamd_learner::queued_for(const std::string& user) const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& j : queue_) n += j.user == user ? 1 : 0;
    return n;
}

bool rspamd_learner::paused() const {
    std::lock_guard lk(mu_);
    return paused_;
}

void rspamd_learner::run() {
    auto pause = s_.retry_first;
    while (true) {
        job j;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            j = std::move(queue_.front());
            queue_.pop_front();
            busy_ = true;
        }
        std::string error;
        const bool reached = send(j, error);
        std::unique_lock lk(mu_);
        busy_ = false;
        if (reached) {
            if (paused_)
                log::info("learn", "-", "rspamd answers again: learning resumed",
                          {{"controller", s_.controller}, {"queued", queue_.size()}});
            paused_ = false;
            pause = s_.retry_first;
            lk.unlock();
            idle_cv_.notify_all();
            continue;
        }
        // Kept for the next try, first in line; the whole queue waits with it.
        queue_.push_front(std::move(j));
        if (!paused_)
            log::warn(
                "learn", "-", "rspamd unreachable: learning paused",
                {{"controller", s_.controller},
                 {"error", error},
                 {"queued", queue_.size()},
                 {"retry_in", pause.count() < 1000 ? std::to_string(pause.count()) + "ms"
                                                   : std::to_string(pause.count() / 1000) + "s"}});
        paused_ = true;
        idle_cv_.notify_all();
        cv_.wait_for(lk, pause, [this] { return stopping_; });
        if (stopping_) return;
        pause = std::min(pause * 2, s_.retry_max);
    }
}

namespace {

// The Maildir file may have been renamed since (its flags are in the name: "unique:2,FLAGS",
// and a new/ message moves to cur/ when a client looks at it): find it by its unique part.
int open_message(const std::filesystem::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 || errno != ENOENT) return fd;
    const std::string name = file.filename().string();
    const std::string unique = name.substr(0, name.find(':'));
    const auto box = file.parent_path().parent_path();
    std::error_code ec;
    for (const char* sub : {"cur", "new"}) {
        std::size_t looked = 0;
        for (auto it = std::filesystem::directory_iterator(box / sub, ec);
             !ec && it != std::filesystem::directory_iterator() && looked < 100000;
             it.increment(ec), ++looked) {
            const std::string n = it->path().filename().string();
            if (n.substr(0, n.find(':')) == unique)
                return ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        }
    }
    return -1;
}

} // namespace

bool rspamd_learner::send(const job& j, std::string& unreachable) {
    const std::string as(to_string(j.k));
    fd_guard f{open_message(j.file)};
    struct stat st {};
    if (f.fd < 0 || ::fstat(f.fd, &st) != 0) {
        log::info("learn", "-", "not learned: the message is gone",
                  {{"user", j.user}, {"as", as}, {"file", j.file.filename().string()}});
        return true;
    }
    const auto length = static_cast<std::uint64_t>(st.st_size);
    std::string error;
    std::optional<outcome> result;
    bool connected = false; // a failure before this is "unreachable" (retried)
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            try {
                // One deadline per step (connect, each write, each read) of s_.timeout, and
                // the whole request within four of them.
                const auto started = net::clock::now();
                auto left = [&] {
                    auto whole = 4 * s_.timeout - (net::clock::now() - started);
                    if (whole <= net::clock::duration::zero())
                        throw std::runtime_error("timed out");
                    return std::min<net::clock::duration>(s_.timeout, whole);
                };
                auto c = co_await net::connect(s_.controller, left());
                connected = true;
                auto host = net::split_host_port(s_.controller).first;
                co_await c->write(request_head(j.k, host, s_.password, length), left());
                std::array<char, 64 * 1024> buf{};
                std::uint64_t sent = 0;
                while (sent < length) {
                    auto n = ::pread(f.fd, buf.data(), buf.size(), static_cast<off_t>(sent));
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) throw std::runtime_error("the message file shrank while sent");
                    auto part =
                        std::min<std::uint64_t>(static_cast<std::uint64_t>(n), length - sent);
                    co_await c->write(std::string_view(buf.data(), part), left());
                    sent += part;
                }
                std::string in;
                while (true) {
                    std::size_t got = co_await c->read_some(std::span<char>(buf), left());
                    bool eof = got == 0;
                    in.append(buf.data(), got);
                    auto r = net::parse_http_response(in, eof);
                    if (!r) throw std::runtime_error(r.error());
                    if (*r) {
                        result = read_answer(**r);
                        break;
                    }
                    if (in.size() > max_answer) throw std::runtime_error("answer too long");
                }
            } catch (const std::exception& e) {
                error = net::error_text(e);
            } catch (...) { // nothing may escape a detached coroutine unseen
                error = "unexpected failure";
            }
        },
        asio::detached);
    io.run();
    const std::string file = j.file.filename().string();
    if (!result && !connected) {
        unreachable = error;
        return false;
    }
    if (!result) { // reached, but the exchange failed: this message is not retried
        log::warn("learn", "-", "learning failed",
                  {{"user", j.user},
                   {"as", as},
                   {"controller", s_.controller},
                   {"error", error},
                   {"file", file}});
        return true;
    }
    switch (result->result) {
    case outcome::what::learned:
        log::info("learn", "-", "learned", {{"user", j.user}, {"as", as}, {"file", file}});
        break;
    case outcome::what::already:
        log::info("learn", "-", "already learned",
                  {{"user", j.user}, {"as", as}, {"file", file}, {"detail", result->detail}});
        break;
    case outcome::what::refused:
        log::warn("learn", "-", "rspamd refused to learn",
                  {{"user", j.user}, {"as", as}, {"file", file}, {"error", result->detail}});
        break;
    }
    return true;
}

} // namespace splitmail::home::learn
