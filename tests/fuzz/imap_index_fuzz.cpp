// Fuzz target: the on-disk formats the IMAP store reads (store.hpp): the first input byte picks
// the file, the rest is its content: 0 splitmail-uidlist (V3 snapshot and log, V2 log or
// V1), 1 Dovecot's dovecot-uidlist, 2 dovecot-keywords, 3 subscriptions. Invariants: no
// crash; after sync() the messages are in strictly ascending UID order, every UID is below
// UIDNEXT, UIDVALIDITY is not 0, HIGHESTMODSEQ is at least every message's MODSEQ, and the
// two real message files are both present.
#include "imap/store.hpp"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <unistd.h>

using namespace splitmail::home::imap;

namespace {
// The fuzzer's Maildir: made once per process, removed at exit (a static destructor runs on
// libFuzzer's and the replayer's normal exit; only a crash leaves it behind).
struct temp_maildir {
    fs::path root;
    temp_maildir() {
        char tmpl[] = "/tmp/imap-index-fuzz-XXXXXX";
        root = ::mkdtemp(tmpl);
        for (auto d : {"cur", "new", "tmp"}) fs::create_directories(root / d);
        std::ofstream(root / "cur" / "1700000000.M1P1Q1.host,S=3:2,Sa") << "x\r\n";
        std::ofstream(root / "new" / "1700000001.M1P1Q2.host") << "y\r\n";
    }
    ~temp_maildir() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const temp_maildir dir;
    const fs::path& root = dir.root;
    if (size == 0) return 0;
    static const char* names[] = {"splitmail-uidlist", "dovecot-uidlist", "dovecot-keywords",
                                  "subscriptions"};
    const char* name = names[data[0] % 4];
    for (auto n : names) fs::remove(root / n);
    std::ofstream(root / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    {
        folder f(root, "host");
        f.sync();
        std::uint32_t last = 0;
        for (const auto& m : f.messages()) {
            if (m.uid <= last || m.uid >= f.uidnext() || m.modseq > f.highest_modseq())
                std::abort();
            last = m.uid;
            (void)f.flags_text(m, true);
            (void)f.internal_date(m);
        }
        if (f.uidvalidity() == 0 || f.messages().size() != 2) std::abort();
        (void)f.flag_list(true);
        (void)f.expunged_since(0);
    }
    mailbox_store st(root, "host");
    (void)st.subscriptions();
    return 0;
}
