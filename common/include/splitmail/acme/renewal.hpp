#pragma once
// When to (re)new a certificate: a pure decision with the clock passed in.
//
// Guarantees: with no certificate, or one that does not cover the wanted names, or one past
// two thirds of its lifetime (a third left, the Let's Encrypt recommendation), renewal is due;
// after failures the next attempt backs off exponentially (5 min, 10, 20, ... capped at 6 h),
// never earlier than the CA's Retry-After; the old certificate stays in service meanwhile
// (this module never says "remove"). With RFC 9773 renewal information (the CA's suggested
// window) the renewal is due at a point inside that window instead — chosen by `ari_fraction`
// (0..1, the caller derives it from the certificate so it is stable across runs, RFC 9773 4.2
// asks for a random point) — and at once when the window has passed; a CA can so move renewal
// earlier (revocation) or later.
#include <chrono>
#include <optional>
#include <utility>

namespace splitmail::acme {

struct renewal_input {
    using time_point = std::chrono::system_clock::time_point;
    std::optional<time_point> not_before, not_after; // of the certificate in service, if any
    bool names_match = true;                         // it covers every name we want
    int consecutive_failures = 0;                    // since the last success
    std::optional<time_point> last_attempt;
    std::optional<std::chrono::seconds> retry_after;             // from the CA's last error
    std::optional<std::pair<time_point, time_point>> ari_window; // RFC 9773 suggestedWindow
    double ari_fraction = 0.5;                                   // where in the window
};

struct renewal_decision {
    bool renew_now = false;
    std::chrono::system_clock::time_point next_check; // when to look again if not now
    std::chrono::system_clock::time_point due;        // when renewal became or becomes due
};

inline constexpr std::chrono::seconds renewal_backoff_base = std::chrono::minutes(5);
inline constexpr std::chrono::seconds renewal_backoff_cap = std::chrono::hours(6);

// The wait after `failures` consecutive failures (0 -> none).
std::chrono::seconds renewal_backoff(int failures) noexcept;

renewal_decision decide_renewal(const renewal_input& in, std::chrono::system_clock::time_point now);

} // namespace splitmail::acme
