#pragma once
// Structured logging for every program: one line per event on stderr (journald adds the
// timestamp under systemd; we add our own so plain runs and test logs are readable too).
//   2026-11-23T13:47:00.123Z info smtpd 3F2A9C accepted from=<a@b> size=5120
// level, component, connection or queue id ("-" when none), message, then key=value fields.
// Values with spaces or quotes are quoted. Never pass secrets (AUTH data, passwords, tokens).
// Thread-safe: each line is written with one write(2).
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace splitmail::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

struct field {
    std::string_view key;
    std::string value;
    field(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
    field(std::string_view k, std::string_view v) : key(k), value(v) {}
    field(std::string_view k, const char* v) : key(k), value(v) {}
    template <class T>
    requires std::is_arithmetic_v<T> field(std::string_view k, T v)
        : key(k), value(std::to_string(v)) {}
};

void set_min_level(level l);
level min_level();
bool parse_level(std::string_view text, level& out);

void write(level l, std::string_view component, std::string_view id, std::string_view message,
           std::initializer_list<field> fields = {});

inline void debug(std::string_view c, std::string_view id, std::string_view m,
                  std::initializer_list<field> f = {}) {
    if (min_level() <= level::debug) write(level::debug, c, id, m, f);
}
inline void info(std::string_view c, std::string_view id, std::string_view m,
                 std::initializer_list<field> f = {}) {
    write(level::info, c, id, m, f);
}
inline void warn(std::string_view c, std::string_view id, std::string_view m,
                 std::initializer_list<field> f = {}) {
    write(level::warn, c, id, m, f);
}
inline void error(std::string_view c, std::string_view id, std::string_view m,
                  std::initializer_list<field> f = {}) {
    write(level::error, c, id, m, f);
}

} // namespace splitmail::log
