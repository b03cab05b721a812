#pragma once
// Reading the deSEC API token from its file, for every program that talks to deSEC
// (`splitmail dns apply`, and splitmail-ddns through ddns::read_token).
//
// Guarantees: a file that group or others may access (anything but 0600/0400-like modes) is
// refused with a message that says how to fix it; surrounding white space is trimmed; the
// token is never part of an error message.
// Does not: check the token with deSEC.
#include <expected>
#include <filesystem>
#include <string>

namespace splitmail::desec {

std::expected<std::string, std::string> read_token_file(const std::filesystem::path& file);

} // namespace splitmail::desec
