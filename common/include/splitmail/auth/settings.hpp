#pragma once
// The login brake's settings (section `auth`), one definition for every program that has a
// login path (splitmail-relay: submission AUTH and its offline cache; splitmail-home: IMAP
// and LMTP XAUTH): the table rows that go into each program's settings table (so
// docs/configuration.md documents them) and their conversion into a brake_policy.
#include "splitmail/auth/brake.hpp"
#include "splitmail/config/settings.hpp"

#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::auth {

std::span<const config::setting_spec> brake_settings_table();
// `name` prefixes errors: "FILE: KEY: REASON".
std::expected<brake_policy, std::string> brake_policy_from(const config::values& v,
                                                           std::string_view name);
// The relay<->home pairing secret from its file: white space around it trimmed; 32 (or
// min_length, for secrets of other programs such as rspamd's controller password) to 200
// characters without white space, else an error naming the problem (never the content).
std::expected<std::string, std::string> read_secret_file(const std::filesystem::path& file,
                                                         std::size_t min_length = 32);
// The same check on text already read (provision keeps an existing secret file when usable).
std::expected<std::string, std::string> read_secret_text(std::string_view text,
                                                         std::size_t min_length = 32);
// A program's own table followed by the brake's rows.
std::vector<config::setting_spec> with_brake_settings(std::span<const config::setting_spec> own);

} // namespace splitmail::auth
