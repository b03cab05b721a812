// Fuzz target: the IMAP session (homeserver/imap/session.hpp) past command framing: the
// argument grammars of SEARCH programs, FETCH items with sections and partials, STORE,
// LIST-EXTENDED / STATUS / SELECT (CONDSTORE, QRESYNC) parameters, APPEND, AUTHENTICATE PLAIN
// with SASL-IR, over a real Maildir (in /dev/shm, made afresh for every input) holding a
// multipart message, a plain one and a folder. Input: a prefix byte (0: not logged in; 1:
// logged in; 2: INBOX selected; 3: QRESYNC enabled and INBOX selected; bit 2: TLS), then the
// client bytes.
// Invariants (abort on violation):
// - every response line is untagged ("* "), a continuation ("+"), or "<tag> OK|NO|BAD",
//   literals ({n} / ~{n} at line end) are followed by exactly n octets and every line ends
//   with CRLF (RFC 3501 7, RFC 9051 7);
// - the messages are immutable: no command changes the bytes of a stored message file, only
//   its name (flags) or its presence;
#include "imap/session.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

using namespace splitmail::home::imap;
namespace fs = std::filesystem;

namespace {
const std::map<std::string, std::string>& messages() {
    static const std::map<std::string, std::string> m = {
        {"1700000000.M1P1Q1.host,S=400",
         "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: "
         "=?UTF-8?Q?caf=C3=A9?=\r\n"
         "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <1@example.org>\r\n"
         "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
         "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello world\r\n"
         "--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n"
         "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: "
         "base64\r\n\r\n"
         "AAECAwQFBgc=\r\n--b1--\r\n"},
        {"1700000100.M2P1Q2.host,S=90", "From: carol@example.net\r\nSubject: plain\r\nCc: "
                                        "dave@example.org\r\n\r\nline 1\r\nline 2\r\n"},
    };
    return m;
}

std::atomic<std::uint64_t> run_counter{0};

fs::path work_dir_path() {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    return base / ("splitmail-imapfuzz-" + std::to_string(::getpid()));
}

fs::path base_dir() {
    static const fs::path dir = [] {
        auto d = work_dir_path();
        fs::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            fs::remove_all(work_dir_path(), ec);
        });
        return d;
    }();
    return dir;
}

void make_maildir(const fs::path& root) {
    for (auto sub : {"cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"})
        fs::create_directories(root / sub);
    bool first = true;
    for (const auto& [name, body] : messages()) {
        auto where = first ? root / "cur" / (name + ":2,S") : root / "new" / name;
        std::ofstream(where, std::ios::binary) << body;
        if (first) std::ofstream(root / ".Sent/cur" / (name + ":2,"), std::ios::binary) << body;
        first = false;
    }
}

// Walks the response stream; aborts on anything that is not a response line.
void check_responses(std::string_view out) {
    bool line_start = true;
    while (!out.empty()) {
        auto eol = out.find("\r\n");
        if (eol == std::string_view::npos) std::abort(); // a line without CRLF
        auto line = out.substr(0, eol);
        if (line.find_first_of("\r\n") != std::string_view::npos) std::abort();
        if (line_start) {
            if (!(line.starts_with("* ") || line.starts_with("+"))) {
                auto sp = line.find(' ');
                if (sp == 0 || sp == std::string_view::npos) std::abort();
                auto word = line.substr(sp + 1, line.find(' ', sp + 1) - sp - 1);
                if (word != "OK" && word != "NO" && word != "BAD") std::abort();
            }
        }
        out.remove_prefix(eol + 2);
        line_start = true;
        // A literal at the end of the line: its octets follow, then the line goes on.
        if (line.ends_with("}")) {
            auto open = line.rfind('{');
            if (open != std::string_view::npos) {
                auto digits = line.substr(open + 1, line.size() - open - 2);
                if (!digits.empty() &&
                    digits.find_first_not_of("0123456789") == std::string_view::npos) {
                    std::size_t n = std::stoull(std::string(digits));
                    if (n > out.size()) std::abort();
                    out.remove_prefix(n);
                    line_start = false;
                }
            }
        }
    }
}

void check_files(const fs::path& root) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (!it->is_regular_file()) continue;
        auto name = it->path().filename().string();
        auto m = messages().find(name.substr(0, name.find(':')));
        if (m == messages().end()) continue;
        std::ifstream in(it->path(), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (bytes != m->second) std::abort();
    }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto root = base_dir() / std::to_string(run_counter++);
    make_maildir(root / "user");

    session_config cfg;
    cfg.hostname = "home.example.org";
    cfg.plaintext_auth = true;
    cfg.tls_active = data[0] & 4;
    cfg.starttls_offered = !cfg.tls_active;
    cfg.limits.max_line = 2048;
    cfg.limits.max_literal = 1024;
    cfg.limits.max_append_literal = 4096;
    session_hooks hooks;
    hooks.authenticate = [](std::string_view u, std::string_view p) -> std::optional<std::string> {
        if (u == "user" && p == "pw") return std::string("user@example.org");
        return std::nullopt;
    };
    hooks.maildir_of = [&](const std::string&) { return root / "user"; };
    hooks.claim_user = [](const std::string&) { return true; };

    {
        session s(cfg, hooks);
        std::string prefix;
        switch (data[0] & 3) {
        case 1: prefix = "p1 LOGIN user pw\r\n"; break;
        case 2: prefix = "p1 LOGIN user pw\r\np2 SELECT INBOX\r\n"; break;
        case 3:
            prefix = "p1 LOGIN user pw\r\np2 ENABLE QRESYNC\r\np3 SELECT INBOX (QRESYNC (1 1))\r\n";
            break;
        }
        std::string out = s.greeting();
        bool closed = false;
        auto pump = [&] {
            for (int i = 0; i < 64 && !closed; ++i) {
                auto st = s.advance();
                out += st.output;
                if (st.close) closed = true;
                if (st.start_tls) s.tls_started();
                if (st.auth) s.auth_result(hooks.authenticate(st.auth->user, st.auth->password));
                if (st.output.empty() && !st.auth && !st.start_tls) break;
            }
        };
        s.feed(prefix);
        pump();
        s.feed(in);
        pump();
        if (!closed && !s.idling()) {
            // At a command boundary LOGOUT must end the session (RFC 3501 6.1.3); inside a
            // literal or an AUTHENTICATE exchange these bytes are data, so no check then.
            s.feed("zz LOGOUT\r\n");
            pump();
        }
        check_responses(out);
    }
    check_files(root / "user");
    std::error_code ec;
    fs::remove_all(root, ec);
    return 0;
}
