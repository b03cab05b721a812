// Structured log lines on stderr; see log.hpp.
#include "splitmail/log/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace splitmail::log {
namespace {
std::atomic<int> g_min{static_cast<int>(level::info)};

const char* level_name(level l) {
    switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    }
    return "?";
}

bool needs_quotes(std::string_view v) {
    if (v.empty()) return true;
    for (char c : v)
        if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
    return false;
}

void append_value(std::string& out, std::string_view v) {
    if (!needs_quotes(v)) {
        out.append(v);
        return;
    }
    out.push_back('"');
    for (char c : v) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            // Control characters from peers must not break the one-event-per-line shape.
            static const char hex[] = "0123456789abcdef";
            out.append("\\x");
            out.push_back(hex[(c >> 4) & 0xf]);
            out.push_back(hex[c & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}
} // namespace

void set_min_level(level l) { g_min.store(static_cast<int>(l)); }
level min_level() { return static_cast<level>(g_min.load(std::memory_order_relaxed)); }

bool parse_level(std::string_view text, level& out) {
    if (text == "debug")
        out = level::debug;
    else if (text == "info")
        out = level::info;
    else if (text == "warn" || text == "warning")
        out = level::warn;
    else if (text == "error")
        out = level::error;
    else
        return false;
    return true;
}

void write(level l, std::string_view component, std::string_view id, std::string_view message,
           std::initializer_list<field> fields) {
    if (static_cast<int>(l) < g_min.load(std::memory_order_relaxed)) return;
    using namespace std::chrono;
    auto now = system_clock::now();
    std::time_t t = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    std::string line;
    line.reserve(128);
    line.append(stamp).append(" ").append(level_name(l)).append(" ");
    line.append(component).append(" ").append(id.empty() ? std::string_view("-") : id);
    line.append(" ");
    for (char c : message) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
    for (const auto& f : fields) {
        line.push_back(' ');
        line.append(f.key).push_back('=');
        append_value(line, f.value);
    }
    line.push_back('\n');
    // One write(2) per line so concurrent threads never interleave within a line.
    ssize_t r = ::write(STDERR_FILENO, line.data(), line.size());
    (void)r;
}

} // namespace splitmail::log
