// Per-user UIDVALIDITY counter; see uidvalidity.hpp.
#include "imap/uidvalidity.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <string>
#include <sys/file.h>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

constexpr const char* counter_name = "splitmail-uidvalidity";
constexpr const char* dovecot_name = "dovecot-uidvalidity";

std::optional<std::uint32_t> parse_number(std::string_view text, int base) {
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (text.empty() || text.size() > 10) return std::nullopt;
    std::uint32_t v = 0;
    auto r = std::from_chars(text.data(), text.data() + text.size(), v, base);
    if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v == 0) return std::nullopt;
    return v;
}

// The value in `file`, nullopt when it is missing or not a counter; an error when it cannot
// be read (a garbage file is logged and ignored: the clock and the other file still apply).
std::expected<std::optional<std::uint32_t>, std::error_code>
read_counter(const std::filesystem::path& file, bool dovecot) {
    auto r = durable::read_file_if_exists(file, {64, true});
    if (!r) {
        if (r.error().code == std::errc::file_too_large) {
            log::warn("imap", "-", "UIDVALIDITY counter file is not a counter, ignored",
                      {{"path", file.string()}});
            return std::nullopt;
        }
        return std::unexpected(r.error().code);
    }
    if (!*r) return std::nullopt;
    auto v = dovecot ? parse_dovecot_uidvalidity(**r) : parse_uidvalidity_counter(**r);
    if (!v)
        log::warn("imap", "-", "UIDVALIDITY counter file is not a counter, ignored",
                  {{"path", file.string()}});
    return v;
}

} // namespace

std::optional<std::uint32_t> parse_uidvalidity_counter(std::string_view text) {
    return parse_number(text, 10);
}

std::optional<std::uint32_t> parse_dovecot_uidvalidity(std::string_view text) {
    // Dovecot's mailbox-uidvalidity.c writes "%08x\n".
    if (text.size() > 9) return std::nullopt; // 8 digits and "\n"
    return parse_number(text, 16);
}

std::expected<std::uint32_t, std::error_code> next_uidvalidity(const std::filesystem::path& root,
                                                               std::time_t now) {
    // One writer at a time, across the threads and processes serving this user: flock locks
    // belong to the open file description, so two open() calls in one process exclude each
    // other too.
    auto lock_path = root / (std::string(counter_name) + ".lock");
    durable::unique_fd lock(
        ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!lock) return std::unexpected(std::error_code(errno, std::generic_category()));
    while (::flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR) return std::unexpected(std::error_code(errno, std::generic_category()));

    auto ours = read_counter(root / counter_name, false);
    if (!ours) return std::unexpected(ours.error());
    auto theirs = read_counter(root / dovecot_name, true);
    if (!theirs) return std::unexpected(theirs.error());
    std::uint64_t next = now > 0 ? static_cast<std::uint64_t>(now) : 1;
    if (*ours) next = std::max<std::uint64_t>(next, std::uint64_t{**ours} + 1);
    if (*theirs) next = std::max<std::uint64_t>(next, std::uint64_t{**theirs} + 1);
    if (next > UINT32_MAX) return std::unexpected(std::make_error_code(std::errc::value_too_large));

    durable::replace_options opt;
    opt.locked = true; // we hold the counter's lock: "<name>.tmp" is ours alone
    auto w = durable::replace_file(root / counter_name, std::to_string(next) + "\n", opt);
    if (!w) return std::unexpected(w.error().code);
    return static_cast<std::uint32_t>(next);
}

} // namespace splitmail::home::imap
