#pragma once
// Shared by the scripted IMAP session tests (session_*_test.cpp, one file per command
// family): a temp Maildir root, a session factory with a fixed user and password, and helpers
// to deliver a file into new/ and to feed a session.
#include "imap/session.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <unistd.h>

namespace splitmail::home::imap::testing {

struct fixture {
    fs::path root;
    std::map<std::string, std::size_t> slots; // claim_user bookkeeping for the LIMIT test
    std::size_t max_per_user = 100;
    fixture() {
        char tmpl[] = "/tmp/imap-session-XXXXXX";
        root = ::mkdtemp(tmpl);
    }
    ~fixture() { fs::remove_all(root); }
    fixture(const fixture&) = delete;
    fixture& operator=(const fixture&) = delete;

    session make(bool tls = true, bool plain = false, codec_limits limits = {}) {
        session_config cfg;
        cfg.tls_active = tls;
        cfg.starttls_offered = true;
        cfg.plaintext_auth = plain;
        cfg.limits = limits;
        session_hooks h;
        h.authenticate = [](std::string_view u, std::string_view p) -> std::optional<std::string> {
            if (u == "demo@example.test" && p == "secret") return std::string(u);
            return std::nullopt;
        };
        h.maildir_of = [this](const std::string&) { return root / "demo"; };
        h.claim_user = [this](const std::string& u) {
            if (slots[u] >= max_per_user) return false;
            ++slots[u];
            return true;
        };
        return session(cfg, h);
    }
    void deliver(const std::string& name, const std::string& content) {
        fs::create_directories(root / "demo" / "new");
        fs::create_directories(root / "demo" / "cur");
        fs::create_directories(root / "demo" / "tmp");
        std::ofstream(root / "demo" / "new" / name, std::ios::binary) << content;
    }
    // A logged-in session with INBOX selected.
    session selected(bool rev2 = false) {
        auto s = make();
        s.feed("a LOGIN demo@example.test secret\r\n");
        s.advance();
        if (rev2) {
            s.feed("e ENABLE IMAP4rev2\r\n");
            s.advance();
        }
        s.feed("b SELECT INBOX\r\n");
        s.advance();
        return s;
    }
};

// Runs what `in` asks for to the end: a long answer comes in several steps (step.more), as
// the driver writes them; their output is joined, the flags are the last step's.
inline step finish(session& s) {
    step st = s.advance();
    while (st.more) {
        step next = s.advance();
        next.output = st.output + next.output;
        st = std::move(next);
    }
    return st;
}

inline step say(session& s, const std::string& in) {
    s.feed(in);
    return finish(s);
}

// Feeds `in` one byte at a time and collects all output (continuations included).
inline std::string say_bytewise(session& s, const std::string& in) {
    std::string out;
    for (char c : in) {
        s.feed(std::string_view(&c, 1));
        out += finish(s).output;
    }
    return out;
}

// Number of entries in directory `d` (0 when it cannot be read).
inline std::size_t files_in(const fs::path& d) {
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = fs::directory_iterator(d, ec); !ec && it != fs::directory_iterator(); ++it) ++n;
    return n;
}

inline bool has(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

inline const std::string msg1 =
    "From: A <a@x.test>\r\nTo: demo@example.test\r\nSubject: hello\r\n\r\nbody one\r\n";

} // namespace splitmail::home::imap::testing
