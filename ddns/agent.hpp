#pragma once
// The splitmail-ddns agent: one check-and-update cycle at a time, with the clock passed in.
//
// A cycle: honour a pending Retry-After; make sure the domain's minimum_ttl and the current
// A/AAAA RRsets are known (read at start and every refresh_interval, and again after a failed
// write); detect the addresses; compare them with what deSEC has; if something differs and
// neither flap damping nor the write limiter object, send ONE bulk PATCH with every changed
// name and family. Each change is logged with its old and new records.
// Guarantees: no write when deSEC already has the detected address (restarts included, since
// the RRsets are read first); never more writes than deSEC's limits (rate_limiter, history in
// the state file); a refused address (private, CGNAT, ...) never reaches deSEC and leaves the
// existing record untouched; 401/403/404 end with a fatal result naming the problem.
// Does not: sleep or loop (run_once/run_daemon in runner.hpp do), or read files.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ip_source.hpp"
#include "rate_limiter.hpp"
#include "splitmail/config/ddns.hpp"
#include "splitmail/ddns/state.hpp"
#include "splitmail/desec/client.hpp"

namespace splitmail::ddns {

struct cycle_result {
    enum class status {
        unchanged,    // deSEC already has the addresses
        updated,      // one bulk write succeeded
        would_update, // dry run: the write was only logged
        postponed,    // Retry-After, write limiter or flap damping: `next` says when
        transient,    // network, TLS, 5xx, bad answer: retry after `next` (backoff)
        failed,       // deSEC refused the write (400)
        fatal,        // 401/403/404: `exit_code` and `message` say why; do not retry
    } st = status::unchanged;
    std::chrono::milliseconds next{0};
    bool refused = false; // some detected address was not publishable
    int exit_code = 0;
    std::string message;
};

class agent {
public:
    using persist_fn = std::function<void(const state&)>;
    using random_fn = std::function<double()>; // uniform in [0, 1)

    agent(const settings& s, desec::client& api, ip_detector& detector, state& st,
          persist_fn persist, random_fn random, bool dry_run);

    cycle_result run_cycle(time_point now);

    std::uint32_t ttl() const noexcept { return ttl_; }
    std::size_t writes_sent() const noexcept { return writes_sent_; }

private:
    cycle_result on_api_error(const desec::error& e, time_point now, std::string_view what);
    cycle_result api_error_result(const desec::error& e, time_point now, std::string_view what);
    std::optional<cycle_result> ensure_remote(time_point now);
    std::optional<ip_address> detect(family f, time_point now, bool& refused, bool& transient);
    void note(const std::string& topic, const std::string& message, bool warn,
              const std::string& key = {});
    std::chrono::milliseconds backoff();
    // The state's last_error (for `splitmail check`), saved when it changes.
    void note_error(const std::string& text, time_point now);

    const settings& s_;
    desec::client& api_;
    ip_detector& detector_;
    state& state_;
    persist_fn persist_;
    random_fn random_;
    bool dry_run_;

    rate_limiter writes_;
    rate_limiter reads_;
    damper damper_;
    std::optional<std::uint32_t> minimum_ttl_;
    std::uint32_t ttl_ = 0;
    bool remote_known_ = false;
    time_point remote_read_at_{};
    std::map<std::string, std::map<std::string, std::vector<std::string>>> remote_; // sub->type
    struct detection {
        time_point at{};
        std::optional<ip_address> address;
        bool refused = false;
    };
    std::map<family, detection> last_detection_;
    std::map<std::string, std::string> notes_;
    unsigned failures_ = 0;
    std::size_t writes_sent_ = 0;
};

// display_name(): splitmail/config/ddns.hpp.

} // namespace splitmail::ddns
