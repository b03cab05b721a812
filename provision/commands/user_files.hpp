#pragma once
// Shared by `splitmail user` and `splitmail alias`: option parsing (--config/--users/
// --aliases), reading the current files, and checking a candidate state of both files by
// building the user database from it.
#include "splitmail/users/database.hpp"

#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace splitmail::provision {

struct user_files {
    std::filesystem::path config; // the home.toml the files are checked against ("" = none)
    std::filesystem::path users;
    std::filesystem::path aliases; // may be empty
    std::string delimiter = "+";
    std::vector<std::string> domains;
    std::vector<std::string> words;       // positional arguments left after the options
    std::size_t min_password_length = 12; // home.toml users.min_password_length
};

// Parses options out of `args`. Without --config, home's configuration is looked for (issue 16
// bug 4): with --users FILE, a home.toml next to FILE or /etc/splitmail/home.toml whose
// users.file is FILE; otherwise /etc/splitmail/home.toml. Errors are usage errors or the
// config's own "FILE: KEY: REASON".
std::expected<user_files, std::string> parse_user_options(std::span<const std::string> args);

// For commands that write: "" when `f` was checked against a home.toml (home.domains,
// users.recipient_delimiter), else why a write must not go ahead (splitmail-home would refuse
// a users file with an address outside home.domains and keep its old database).
std::string needs_config_for_writing(const user_files& f);

// The users file must exist before aliases are checked against it (a missing one would make
// every target unknown): "" or why not, naming the file and the setting.
std::string users_file_missing(const user_files& f);

// Checks that users/aliases texts make a valid database; error "FILE:LINE: reason".
std::expected<void, std::string> check_database(const user_files& f, std::string_view users_text,
                                                std::string_view aliases_text);

// Current content of a file ("" when missing).
std::string read_text(const std::filesystem::path& p);

// Splits text into lines (without '\n'); a final line without '\n' is kept.
std::vector<std::string> split_lines(std::string_view text);
std::string join_lines(const std::vector<std::string>& lines);

} // namespace splitmail::provision
