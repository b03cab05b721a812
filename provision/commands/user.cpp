// `splitmail user add|del|passwd|list`; see user.hpp.
#include "commands/user.hpp"
#include "splitmail/address/address.hpp"
#include "commands/user_files.hpp"

#include "splitmail/users/database.hpp"
#include "splitmail/users/file_edit.hpp"
#include "splitmail/users/password.hpp"

#include <openssl/crypto.h>

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <iostream>
#include <termios.h>
#include <unistd.h>

namespace splitmail::provision {
namespace {

void user_usage(std::FILE* to = stderr) {
    std::fputs("usage: splitmail user add|passwd|del ADDRESS [--config FILE] [--users FILE] "
               "[--aliases FILE]\n"
               "       splitmail user list [--config FILE] [--users FILE]\n"
               "The password is read from stdin when it is not a terminal, else asked twice.\n",
               to);
}

// One line from fd without the line end; nullopt at EOF before any byte.
std::optional<std::string> read_line(int fd) {
    std::string s;
    char c;
    bool any = false;
    while (true) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        any = true;
        if (c == '\n') break;
        s.push_back(c);
    }
    if (!any) return std::nullopt;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
}

std::optional<std::string> prompt_no_echo(int tty, const char* prompt) {
    ::write(tty, prompt, std::strlen(prompt));
    termios old{};
    bool restore = ::tcgetattr(tty, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(tty, TCSAFLUSH, &quiet);
    }
    auto line = read_line(tty);
    if (restore) ::tcsetattr(tty, TCSAFLUSH, &old);
    ::write(tty, "\n", 1);
    return line;
}

// Never from argv: stdin when piped, else the terminal, twice.
std::expected<std::string, std::string> read_password() {
    if (!::isatty(STDIN_FILENO)) {
        auto pw = read_line(STDIN_FILENO);
        if (!pw || pw->empty()) return std::unexpected("no password on stdin");
        return *pw;
    }
    int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty < 0) tty = STDIN_FILENO;
    auto a = prompt_no_echo(tty, "New password: ");
    auto b = prompt_no_echo(tty, "Repeat password: ");
    if (tty != STDIN_FILENO) ::close(tty);
    if (!a || a->empty()) return std::unexpected("empty password");
    if (!b || *a != *b) return std::unexpected("passwords do not match");
    return *a;
}

// Index of the line defining `address` in the users file, or -1.
long find_user_line(const std::vector<std::string>& lines, const std::string& address) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
        auto parsed = users::parse_users(lines[i] + "\n", "-");
        if (parsed && parsed->size() == 1 && (*parsed)[0].address == address)
            return static_cast<long>(i);
    }
    return -1;
}

// Mode bits a users file may keep: owner read/write, group read (root:splitmail 0640 as
// provision makes it). Hashes are an offline-guessing target: nobody else may read them.
constexpr ::mode_t users_file_allowed = 0640;

} // namespace

std::string weak_password_reason(std::string_view password, std::string_view address,
                                 std::size_t min_length) {
    std::size_t chars = 0;
    for (unsigned char c : password) chars += (c & 0xC0) != 0x80; // UTF-8 code points
    if (chars < min_length)
        return "password too short: " + std::to_string(chars) + " characters, at least " +
               std::to_string(min_length) + " needed (users.min_password_length)";
    if (password.find_first_not_of(password.front()) == std::string_view::npos)
        return "password is one character repeated";
    auto pw = address::lower_ascii(password);
    auto at = address.rfind('@');
    if (pw == address::lower_ascii(address) ||
        (at != std::string_view::npos && pw == address::lower_ascii(address.substr(0, at))))
        return "password is the address itself";
    return "";
}

int run_user(std::span<const std::string> args) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h") { // every subcommand answers --help (issue 16 bug 9)
            user_usage(stdout);
            return 0;
        }
    auto f = parse_user_options(args);
    if (!f) {
        std::fprintf(stderr, "splitmail user: %s\n", f.error().c_str());
        user_usage();
        return 2;
    }
    if (f->words.empty()) {
        user_usage();
        return 2;
    }
    const auto& cmd = f->words[0];
    if (cmd == "list") {
        if (auto why = users_file_missing(*f); !why.empty()) {
            std::fprintf(stderr, "splitmail user: %s\n", why.c_str());
            return 1;
        }
        auto u = users::parse_users(read_text(f->users), f->users.string());
        if (!u) {
            std::fprintf(stderr, "splitmail user: %s\n", u.error().message().c_str());
            return 1;
        }
        for (const auto& e : *u) {
            auto scheme = e.hash.substr(0, e.hash.find('}') + 1);
            std::printf("%s %s%s\n", e.address.c_str(), scheme.c_str(),
                        users::is_weak(e.hash) ? " (weak: run `splitmail user passwd`)" : "");
        }
        return 0;
    }
    if ((cmd != "add" && cmd != "del" && cmd != "passwd") || f->words.size() != 2) {
        user_usage();
        return 2;
    }
    auto address = users::normalize_address(f->words[1]);
    if (!address) {
        std::fprintf(stderr, "splitmail user: \"%s\" is not a usable address\n",
                     f->words[1].c_str());
        return 1;
    }
    if (auto why = needs_config_for_writing(*f); !why.empty()) {
        std::fprintf(stderr, "splitmail user: %s\n", why.c_str());
        return 1;
    }
    if (auto why = users_file_missing(*f);
        !why.empty() && (cmd != "add" || why.find("directory") != std::string::npos)) {
        std::fprintf(stderr, "splitmail user: %s\n", why.c_str());
        return 1;
    }
    std::string hash;
    if (cmd != "del") {
        auto pw = read_password();
        if (!pw) {
            std::fprintf(stderr, "splitmail user: %s\n", pw.error().c_str());
            return 1;
        }
        if (auto why = weak_password_reason(*pw, *address, f->min_password_length); !why.empty()) {
            OPENSSL_cleanse(pw->data(), pw->size());
            std::fprintf(stderr, "splitmail user: %s: %s\n", address->c_str(), why.c_str());
            return 1;
        }
        auto h = users::hash_password(*pw);
        OPENSSL_cleanse(pw->data(), pw->size());
        if (!h) {
            std::fprintf(stderr, "splitmail user: %s\n", h.error().c_str());
            return 1;
        }
        hash = *h;
    }
    auto aliases_text = f->aliases.empty() ? std::string() : read_text(f->aliases);
    struct ::stat before {};
    const bool existed = ::stat(f->users.c_str(), &before) == 0;
    auto r = users::rewrite_file(
        f->users,
        [&](std::string_view current) -> std::expected<std::string, std::string> {
            auto lines = split_lines(current);
            long at = find_user_line(lines, *address);
            if (cmd == "add") {
                if (at >= 0) return std::unexpected(*address + " already exists");
                lines.push_back(*address + ":" + hash);
            } else if (at < 0) {
                return std::unexpected(*address + " does not exist");
            } else if (cmd == "passwd") {
                lines[static_cast<std::size_t>(at)] = *address + ":" + hash;
            } else {
                lines.erase(lines.begin() + at);
            }
            auto next = join_lines(lines);
            if (auto ok = check_database(*f, next, aliases_text); !ok)
                return std::unexpected("refused: the result would be invalid: " + ok.error());
            return next;
        },
        0600, users_file_allowed);
    if (!r) {
        std::fprintf(stderr, "splitmail user: %s\n", r.error().c_str());
        return 1;
    }
    if (existed && (before.st_mode & 07777 & ~users_file_allowed) != 0) {
        char was[8], now[8];
        std::snprintf(was, sizeof was, "%04o", before.st_mode & 07777);
        std::snprintf(now, sizeof now, "%04o", before.st_mode & users_file_allowed);
        std::fprintf(stderr,
                     "splitmail user: warning: %s was mode %s (password hashes readable or "
                     "writable by others); now %s\n",
                     f->users.c_str(), was, now);
    }
    const char* done = cmd == "add" ? "added" : cmd == "del" ? "deleted" : "password changed";
    std::printf("%s: %s\n", address->c_str(), done);
    return 0;
}

} // namespace splitmail::provision
