#pragma once
// Findings of `splitmail check` and how they are shown: one line per finding with a mark
// (✓ ok, ! warning, ✗ failure) and, for what is wrong, the command or action that fixes it;
// or JSON for scripts.
//
// Guarantees: the JSON field names are stable: {"status": S, "findings": [{"check", "status",
// "detail", "fix"}]} with status "ok" | "warn" | "fail"; the overall status is the worst one.
// exit_status(): 0 when nothing failed (warnings allowed), 1 otherwise.
// Does not: decide anything; the checks (checks.hpp) make the findings.
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::check {

enum class status { ok, warn, fail };

std::string_view to_string(status s) noexcept; // "ok", "warn", "fail"

struct finding {
    std::string check; // the check's name: "dns", "ptr", "spf", "dkim", "tlsa", "tls", ...
    status state = status::ok;
    std::string detail; // what was found, one sentence
    std::string fix;    // for warn/fail: the command or action that fixes it ("" if none)
    bool operator==(const finding&) const = default;
};

using findings = std::vector<finding>;

inline finding ok(std::string check, std::string detail) {
    return {std::move(check), status::ok, std::move(detail), {}};
}
inline finding warn(std::string check, std::string detail, std::string fix = {}) {
    return {std::move(check), status::warn, std::move(detail), std::move(fix)};
}
inline finding fail(std::string check, std::string detail, std::string fix = {}) {
    return {std::move(check), status::fail, std::move(detail), std::move(fix)};
}

status worst(const findings& f) noexcept;
int exit_status(const findings& f) noexcept;

void print_text(const findings& f, std::ostream& out);
// The same text in pieces, for printing findings as their check completes: one finding (and
// its fix line) with the check name padded to `width`, then the summary line.
void print_text_line(const finding& f, std::ostream& out, std::size_t width);
void print_text_summary(const findings& f, std::ostream& out);
void print_json(const findings& f, std::ostream& out);

} // namespace splitmail::provision::check
