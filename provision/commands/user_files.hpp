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
    std::filesystem::path users;
    std::filesystem::path aliases;  // may be empty
    std::string delimiter = "+";
    std::vector<std::string> domains;
    std::vector<std::string> words; // positional arguments left after the options
    std::size_t min_password_length = 12; // home.toml users.min_password_length
};

// Parses options out of `args`; errors are usage errors.
std::expected<user_files, std::string> parse_user_options(std::span<const std::string> args);

// Checks that users/aliases texts make a valid database; error "FILE:LINE: reason".
std::expected<void, std::string> check_database(const user_files& f, std::string_view users_text,
                                                std::string_view aliases_text);

// Current content of a file ("" when missing).
std::string read_text(const std::filesystem::path& p);

// Splits text into lines (without '\n'); a final line without '\n' is kept.
std::vector<std::string> split_lines(std::string_view text);
std::string join_lines(const std::vector<std::string>& lines);

} // namespace splitmail::provision
