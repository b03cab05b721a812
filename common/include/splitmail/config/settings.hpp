#pragma once
// Settings tables and the TOML loader shared by every program.
//
// Each program declares one table of (key, type, default, doc). The loader reads a TOML file,
// flattens tables into dotted keys ("smtp.listen"), and checks every key against the table:
// unknown keys, wrong types and unparsable values are errors that name the file, the key and
// the reason. docs/configuration.md is rendered from the same tables (render_markdown), so the
// documentation cannot drift from the code. The loader does not know what a setting means;
// programs turn the checked values into their own typed, immutable settings struct.
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::config {

enum class kind {
    string,     // any string
    path,       // a filesystem path (string)
    boolean,    // true / false
    integer,    // 64-bit signed integer
    duration,   // "30s", "5m", "4h", "14d" or an integer number of seconds
    size,       // "512", "64k", "25M", "1G" (powers of 1024) or an integer number of bytes
    string_list // array of strings
};

// What a program's loader does with files a setting names (secrets): the daemons read them, so a
// missing or unreadable secret stops the start; the CLI (`splitmail check`, `dns`, `queue`), which
// may run without the right to read them, takes only their names.
enum class referenced_files { read, names_only };

struct setting_spec {
    std::string_view key; // dotted: "relay.hostname"
    kind type;
    std::string_view default_value; // as it would be written in TOML; "" means no default
    std::string_view doc;           // one or two sentences for docs/configuration.md
    bool required = false;
};

// The checked values of one configuration file, with defaults filled in.
class values {
public:
    std::string get_string(std::string_view key) const;
    std::filesystem::path get_path(std::string_view key) const;
    bool get_bool(std::string_view key) const;
    std::int64_t get_int(std::string_view key) const;
    std::chrono::seconds get_duration(std::string_view key) const;
    std::uint64_t get_size(std::string_view key) const;
    std::vector<std::string> get_list(std::string_view key) const;
    bool has(std::string_view key) const; // set in the file or by a non-empty default
    // Line of the file where `key` was set; 0 when it has its default.
    int line_of(std::string_view key) const;
    // " (line N)" when `key` was set in the file, else "": for the loaders' own checks.
    std::string where(std::string_view key) const;

    // Filled by load(); keys are dotted, list items are stored in list_.
    std::map<std::string, std::string, std::less<>> scalar_;
    std::map<std::string, std::vector<std::string>, std::less<>> list_;
    std::map<std::string, kind, std::less<>> kinds_;
    std::map<std::string, int, std::less<>> lines_;
};

// Parse helpers, exposed for tests and for programs that take values from the command line.
std::expected<std::chrono::seconds, std::string> parse_duration(std::string_view text);
std::expected<std::uint64_t, std::string> parse_size(std::string_view text);

// Load `file` against `table`. On error the message reads "FILE: KEY: REASON", followed by
// " (line N)" when the file sets KEY; an unknown key also names the closest known one.
std::expected<values, std::string> load(const std::filesystem::path& file,
                                        std::span<const setting_spec> table);
// Same, from TOML text (name is used in error messages).
std::expected<values, std::string> load_string(std::string_view toml_text, std::string_view name,
                                               std::span<const setting_spec> table);

// A Markdown section describing the table (for docs/configuration.md).
std::string render_markdown(std::string_view program, std::string_view file_hint,
                            std::span<const setting_spec> table);

} // namespace splitmail::config
