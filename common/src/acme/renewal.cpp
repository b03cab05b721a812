// Renewal timing (see renewal.hpp).
#include "splitmail/acme/renewal.hpp"

#include <algorithm>
#include <cstdint>

namespace splitmail::acme {

std::chrono::seconds renewal_backoff(int failures) noexcept {
    if (failures <= 0) return std::chrono::seconds(0);
    auto wait = renewal_backoff_base;
    for (int i = 1; i < failures && wait < renewal_backoff_cap; ++i) wait *= 2;
    return std::min(wait, renewal_backoff_cap);
}

renewal_decision decide_renewal(const renewal_input& in,
                                std::chrono::system_clock::time_point now) {
    renewal_decision d;
    bool have_cert = in.not_before && in.not_after && *in.not_after > *in.not_before;
    if (!have_cert || !in.names_match) {
        d.due = now;
    } else if (in.ari_window) {
        // RFC 9773 4.2: a point inside the CA's window; once the window is over, now.
        const auto [start, end] = *in.ari_window;
        const double f = std::clamp(in.ari_fraction, 0.0, 1.0);
        const auto span = std::chrono::duration_cast<std::chrono::seconds>(end - start);
        d.due = start + std::chrono::seconds(
                            static_cast<std::int64_t>(static_cast<double>(span.count()) * f));
        if (end <= now) d.due = std::min(d.due, now);
    } else {
        // Renew when a third of the lifetime is left.
        auto lifetime = *in.not_after - *in.not_before;
        d.due = *in.not_after - lifetime / 3;
    }
    // Earliest moment the failure history allows another attempt.
    auto allowed = now;
    if (in.consecutive_failures > 0 && in.last_attempt) {
        auto wait = renewal_backoff(in.consecutive_failures);
        if (in.retry_after) wait = std::max(wait, *in.retry_after);
        allowed = *in.last_attempt + wait;
    }
    auto attempt_at = std::max(d.due, allowed);
    d.renew_now = attempt_at <= now;
    d.next_check = d.renew_now ? now : attempt_at;
    return d;
}

} // namespace splitmail::acme
