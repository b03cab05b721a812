// Maildir++ store: keywords in file names and dovecot-keywords, the V2 index log (reload,
// torn tail, compaction, no directory read or stat when nothing changed), Dovecot migration
// (dovecot-uidlist v3, dovecot-keywords, subscriptions "V\t2"), MODSEQs and expunge history.
#include "imap/store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

// folder::expunged_since() ranges as the UIDs they hold.
std::vector<std::uint32_t> flat(const std::vector<folder::uid_range>& rs) {
    std::vector<std::uint32_t> out;
    for (auto r : rs)
        for (std::uint64_t u = r.lo; u <= r.hi; ++u) out.push_back(static_cast<std::uint32_t>(u));
    return out;
}

struct tmp_maildir {
    fs::path root;
    tmp_maildir() {
        char tmpl[] = "/tmp/imap-store-XXXXXX";
        root = ::mkdtemp(tmpl);
        for (auto d : {"cur", "new", "tmp"}) fs::create_directories(root / d);
    }
    ~tmp_maildir() { fs::remove_all(root); }
    void put(const std::string& sub, const std::string& name, const std::string& body = "x\r\n") {
        std::ofstream(root / sub / name, std::ios::binary) << body;
    }
    std::string read(const std::string& name) const {
        std::ifstream in(root / name);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    std::vector<std::string> files(const std::string& sub) const {
        std::vector<std::string> out;
        for (auto& e : fs::directory_iterator(root / sub)) out.push_back(e.path().filename());
        std::sort(out.begin(), out.end());
        return out;
    }
};

// Directory mtimes are trusted once they are older than the store's trust margin (store.cpp
// trust_margin: 20 ms for nanosecond stamps, 1.1 s when the file system stamps whole seconds).
// Polls the real mtimes of new/ and cur/ instead of sleeping a fixed time, so the test holds
// on whole-second file systems and on a loaded machine alike.
void let_mtimes_settle(const fs::path& maildir) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        bool settled = true;
        const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        for (const char* sub : {"new", "cur"}) {
            struct stat st {};
            if (::stat((maildir / sub).c_str(), &st) != 0) continue;
            const std::int64_t mtime = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
            const std::int64_t margin = st.st_mtim.tv_nsec == 0 ? 1'100'000'000LL : 20'000'000LL;
            if (now - mtime <= margin + 20'000'000LL) settled = false; // + 20 ms slack
        }
        if (settled) return;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "directory mtimes never settled";
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

TEST(ImapStoreNames, FlagsAndKeywordLetters) {
    EXPECT_EQ(with_flags("123.M1P2.h,S=5", flag_seen | flag_flagged, 0b101),
              "123.M1P2.h,S=5:2,FSac");
    EXPECT_EQ(with_flags("123.h:2,PSb", flag_answered, 0b10), "123.h:2,PRb") << "P kept, S gone";
    EXPECT_EQ(flags_of_filename("1.h:2,DFRSTab"),
              flag_draft | flag_flagged | flag_answered | flag_seen | flag_deleted);
    EXPECT_EQ(keywords_of_filename("1.h:2,Sbz"), (1u << 1) | (1u << 25));
    EXPECT_EQ(keywords_of_filename("1.h"), 0u);
    EXPECT_TRUE(valid_keyword("$Forwarded"));
    EXPECT_FALSE(valid_keyword("\\Seen"));
    EXPECT_FALSE(valid_keyword("two words"));
    EXPECT_FALSE(valid_keyword(""));
}

TEST(ImapStoreKeywords, StoredLikeDovecotAndLimitedTo26) {
    tmp_maildir m;
    m.put("new", "1700000000.M1P1Q1.host");
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    auto fw = f.intern_keyword("$Forwarded");
    auto work = f.intern_keyword("work");
    ASSERT_TRUE(fw && work);
    EXPECT_EQ(*fw, 0u);
    EXPECT_EQ(*work, 1u);
    EXPECT_EQ(*f.intern_keyword("WORK"), 1u) << "keywords compare case-insensitively";
    EXPECT_EQ(m.read("dovecot-keywords"), "0 $Forwarded\n1 work\n");
    ASSERT_FALSE(f.set_flags(1, flag_seen, (1u << *work)));
    EXPECT_EQ(m.files("cur"), std::vector<std::string>{"1700000000.M1P1Q1.host:2,Sb"});
    EXPECT_EQ(f.flags_text(*f.find(1), true), "(\\Seen work \\Recent)");
    EXPECT_TRUE(f.has_keyword(*f.find(1), "Work"));
    EXPECT_FALSE(f.has_keyword(*f.find(1), "$Forwarded"));
    EXPECT_EQ(f.flag_list(true),
              "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded work \\*)");
    for (int i = 2; i < 26; ++i) ASSERT_TRUE(f.intern_keyword("k" + std::to_string(i)));
    auto full = f.intern_keyword("one-too-many");
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error(), std::errc::no_space_on_device);
    EXPECT_EQ(f.flag_list(true).find("\\*"), std::string::npos) << "no \\* when full";
    EXPECT_FALSE(f.intern_keyword("bad keyword"));

    // A second object (another process, or after a restart) reads the same names.
    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.flags_text(*g.find(1), false), "(\\Seen work)");
}

TEST(ImapStoreIndex, ReloadKeepsUidsModseqsAndSkipsTheDirectories) {
    tmp_maildir m;
    for (int i = 0; i < 3000; ++i)
        m.put("cur",
              "17000" + std::to_string(10000 + i) + ".M1P1Q" + std::to_string(i) + ".host,S=3:2,S");
    std::uint32_t uidvalidity;
    std::uint64_t hms;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        ASSERT_EQ(f.messages().size(), 3000u);
        EXPECT_EQ(f.file_stats(), 0u) << "first read: sizes from the names, no stat";
        struct stat st {};
        ASSERT_EQ(::stat(f.path_of(*f.find(5)).c_str(), &st), 0);
        EXPECT_EQ(f.find(5)->internal_date, date_unknown);
        EXPECT_EQ(f.internal_date(*f.find(5)), st.st_mtim.tv_sec) << "read on first use";
        EXPECT_EQ(f.find(5)->internal_date, st.st_mtim.tv_sec) << "and remembered";
        uidvalidity = f.uidvalidity();
        ASSERT_FALSE(f.set_flags(7, flag_flagged));
        ASSERT_FALSE(f.expunge(9));
        ASSERT_FALSE(f.flush());
        hms = f.highest_modseq();
        EXPECT_GT(f.find(7)->modseq, f.find(8)->modseq);
        EXPECT_EQ(flat(f.expunged_since(f.find(7)->modseq)), std::vector<std::uint32_t>{9});
        let_mtimes_settle(m.root);
        ASSERT_FALSE(f.sync()); // reads cur/ once more after our own renames, logs "D"
    }
    let_mtimes_settle(m.root);
    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.scans(), 0u) << "mtimes unchanged: the index is used without readdir";
    EXPECT_EQ(g.file_stats(), 0u);
    EXPECT_EQ(g.uidvalidity(), uidvalidity);
    EXPECT_EQ(g.messages().size(), 2999u);
    EXPECT_EQ(g.highest_modseq(), hms);
    EXPECT_EQ(g.uidnext(), 3001u);
    EXPECT_EQ(g.find(7)->flags, flag_flagged);
    EXPECT_EQ(g.find(9), nullptr);
    EXPECT_EQ(flat(g.expunged_since(0)), std::vector<std::uint32_t>{9});
    EXPECT_EQ(g.find(3000)->size, 3u);

    // A delivery into new/ is found by reading new/ only, and gets the next UID and MODSEQ.
    m.put("new", "1800000000.M1P1Q1.host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.scans(), 1u);
    EXPECT_EQ(g.file_stats(), 1u);
    ASSERT_NE(g.find(3001), nullptr);
    EXPECT_EQ(g.find(3001)->modseq, hms + 1);
}

TEST(ImapStoreIndex, TornTailIgnoredAndCompaction) {
    tmp_maildir m;
    m.put("new", "1700000000.M1P1Q1.host");
    m.put("new", "1700000001.M1P1Q2.host");
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        ASSERT_EQ(f.messages().size(), 2u);
    }
    std::ofstream(m.root / "splitmail-uidlist", std::ios::app) << "A 77 9 1 1 c half-writ";
    std::uint64_t hms = 0;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        EXPECT_EQ(f.messages().size(), 2u);
        EXPECT_EQ(f.find(77), nullptr);
        EXPECT_EQ(f.highest_modseq(), 3u);
        // Enough flag changes to trigger a rewrite; the state survives it.
        for (int i = 0; i < 1200; ++i)
            ASSERT_FALSE(
                f.set_flags(1 + (i % 2), static_cast<std::uint8_t>((i / 2) % 2 ? flag_seen : 0)));
        ASSERT_FALSE(f.flush());
        hms = f.highest_modseq();
        EXPECT_EQ(hms, 3u + 1198u) << "every real change takes a MODSEQ, no-ops do not";
    }
    auto text = m.read("splitmail-uidlist");
    EXPECT_LT(std::count(text.begin(), text.end(), '\n'), 700) << "the log was compacted";
    EXPECT_TRUE(text.starts_with("splitmail-uidlist 3\n")) << text.substr(0, 80);
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    EXPECT_EQ(f.messages().size(), 2u);
    EXPECT_EQ(f.uidnext(), 3u);
    EXPECT_EQ(f.highest_modseq(), hms);
}

TEST(ImapStoreIndex, V2TextIndexConvertedKeepingUidsAndModseqs) {
    tmp_maildir m;
    m.put("cur", "1700000000.M1P1Q1.host,S=3:2,S");
    m.put("cur", "1700000001.M1P1Q2.host,S=3:2,");
    m.put("new", "1700000002.M1P1Q3.host,S=3");
    std::ofstream(m.root / "splitmail-uidlist")
        << "splitmail-uidlist 2 V4321 N20 M50\n"
        << "A 11 40 3 1700000000 c 1700000000.M1P1Q1.host,S=3:2,\n"
        << "A 12 41 3 1700000001 c 1700000001.M1P1Q2.host,S=3:2,\n"
        << "A 13 42 3 1700000002 c 1700000009.M1P1Q9.host,S=3:2,\n"
        << "A 15 43 3 1700000002 n 1700000002.M1P1Q3.host,S=3\n"
        << "A 11 44 3 1700000000 c 1700000000.M1P1Q1.host,S=3:2,S\n"
        << "X 13 45\n"
        << "A 16 46 3 17"; // torn
    std::uint64_t hms = 0;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        EXPECT_EQ(f.uidvalidity(), 4321u);
        EXPECT_EQ(f.uidnext(), 20u);
        ASSERT_EQ(f.messages().size(), 3u);
        EXPECT_EQ(f.find(11)->modseq, 44u);
        EXPECT_EQ(f.find(11)->flags, flag_seen);
        EXPECT_EQ(f.find(11)->internal_date, 1700000000);
        EXPECT_EQ(f.find(12)->modseq, 41u);
        EXPECT_TRUE(f.find(15)->in_new);
        EXPECT_EQ(f.find(16), nullptr);
        EXPECT_EQ(flat(f.expunged_since(44)), std::vector<std::uint32_t>{13});
        hms = f.highest_modseq();
        EXPECT_EQ(hms, 50u);
    }
    EXPECT_TRUE(m.read("splitmail-uidlist").starts_with("splitmail-uidlist 3\n"))
        << "converted at once";
    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.uidvalidity(), 4321u);
    ASSERT_EQ(g.messages().size(), 3u);
    EXPECT_EQ(g.find(11)->modseq, 44u);
    EXPECT_EQ(g.find(12)->modseq, 41u);
    EXPECT_EQ(g.find(11)->internal_date, 1700000000);
    EXPECT_EQ(flat(g.expunged_since(44)), std::vector<std::uint32_t>{13});
    EXPECT_EQ(g.highest_modseq(), hms);
}

TEST(ImapStoreIndex, ExpungeHistoryBoundedAndAnsweredConservatively) {
    tmp_maildir m;
    for (int i = 0; i < 8; ++i)
        m.put("cur",
              "17000000" + std::to_string(10 + i) + ".M1P1Q" + std::to_string(i) + ".host,S=3:2,");
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    f.keep_expunged(2);
    std::uint64_t before = f.highest_modseq();
    for (std::uint32_t uid : {2u, 3u, 5u, 6u}) ASSERT_FALSE(f.expunge(uid));
    // Enough changes to make the log rewrite itself (which prunes).
    for (int i = 0; i < 1200; ++i)
        ASSERT_FALSE(f.set_flags(1, static_cast<std::uint8_t>(i % 2 ? flag_seen : 0)));
    ASSERT_FALSE(f.flush());
    EXPECT_EQ(f.pruned_modseq(), before + 2) << "the expunges of UIDs 2 and 3 are forgotten";
    EXPECT_EQ(flat(f.expunged_since(before + 2)), (std::vector<std::uint32_t>{5, 6}));
    EXPECT_EQ(flat(f.expunged_since(before)), (std::vector<std::uint32_t>{2, 3, 5, 6}))
        << "older client: every UID not present";
    ASSERT_FALSE(f.expunge(8));
    EXPECT_EQ(flat(f.expunged_since(0)), (std::vector<std::uint32_t>{2, 3, 5, 6, 8}));
    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.pruned_modseq(), before + 2) << "persisted";
    EXPECT_EQ(flat(g.expunged_since(1)), (std::vector<std::uint32_t>{2, 3, 5, 6, 8}));
    EXPECT_EQ(flat(g.expunged_since(before + 2)), (std::vector<std::uint32_t>{5, 6, 8}));
}

TEST(ImapStoreWatch, OwnChangesNeedNoRereadOthersAreSeen) {
    tmp_maildir m;
    for (int i = 0; i < 5; ++i)
        m.put("cur",
              "170000000" + std::to_string(i) + ".M1P1Q" + std::to_string(i) + ".host,S=3:2,");
    let_mtimes_settle(m.root);
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    ASSERT_EQ(f.scans(), 1u);
    ASSERT_FALSE(f.set_flags(2, flag_seen));
    ASSERT_FALSE(f.expunge(3));
    auto uid = f.add("new message\r\n", flag_flagged, std::nullopt);
    ASSERT_TRUE(uid);
    ASSERT_FALSE(f.sync());
    let_mtimes_settle(m.root);
    ASSERT_FALSE(f.sync());
    EXPECT_EQ(f.scans(), 1u) << "own renames, unlinks and adds: no directory read";
    EXPECT_EQ(f.messages().size(), 5u);

    // Someone else renames a file (a flag change by another program): cur/ is read.
    fs::rename(m.root / "cur" / "1700000004.M1P1Q4.host,S=3:2,",
               m.root / "cur" / "1700000004.M1P1Q4.host,S=3:2,T");
    ASSERT_FALSE(f.sync());
    EXPECT_EQ(f.scans(), 2u);
    EXPECT_EQ(f.find(5)->flags, flag_deleted);
    // ... and a delivery to new/ within the same clock tick as our own change.
    ASSERT_FALSE(f.set_flags(1, flag_seen));
    m.put("new", "1800000000.M1P1Q1.host,S=3");
    ASSERT_FALSE(f.sync());
    EXPECT_EQ(f.scans(), 3u);
    EXPECT_NE(f.find(*uid + 1), nullptr);
    let_mtimes_settle(m.root);
    ASSERT_FALSE(f.sync());
    EXPECT_EQ(f.scans(), 3u);

    // The "D" record written without a read lets the next process skip the directories.
    f.flush();
    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.scans(), 0u);
    EXPECT_EQ(g.messages().size(), 6u);
}

TEST(ImapStoreLock, SecondProcessCannotLoadTheFolder) {
    tmp_maildir m;
    m.put("cur", "1700000000.M1P1Q1.host,S=3:2,");
    auto child_status = [&] {
        pid_t pid = ::fork();
        if (pid == 0) {
            std::error_code ec;
            {
                folder g(m.root, "host");
                ec = g.sync();
            }
            mailbox_store st(m.root, "host"); // the way sessions open it
            auto f = st.open("INBOX");
            if (f.has_value() != !ec) ::_exit(13);
            ::_exit(ec == std::errc::device_or_resource_busy ? 10 : ec ? 11 : 12);
        }
        int st = 0;
        ::waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    };
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        folder same_process(m.root, "host");
        EXPECT_FALSE(same_process.sync()) << "objects of one process share the lock";
        fs::rename(m.root, m.root.string() + "-renamed");
        folder after_rename(m.root.string() + "-renamed", "host");
        EXPECT_FALSE(after_rename.sync()) << "still this process's folder after a RENAME";
        fs::rename(m.root.string() + "-renamed", m.root);
        EXPECT_EQ(child_status(), 10) << "another process is refused";
    }
    EXPECT_EQ(child_status(), 12) << "free again once the folder is closed";
}

TEST(ImapStoreIndex, V1IndexUpgradedKeepingUids) {
    tmp_maildir m;
    m.put("cur", "1700000000.M1P1Q1.host:2,S");
    m.put("cur", "1700000001.M1P1Q2.host:2,");
    std::ofstream(m.root / "splitmail-uidlist")
        << "V1 1234 9\n5 1700000000.M1P1Q1.host\n8 1700000001.M1P1Q2.host\n";
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    EXPECT_EQ(f.uidvalidity(), 1234u);
    EXPECT_EQ(f.uidnext(), 9u);
    ASSERT_NE(f.find(5), nullptr);
    ASSERT_NE(f.find(8), nullptr);
    EXPECT_EQ(f.find(5)->flags, flag_seen);
    EXPECT_TRUE(m.read("splitmail-uidlist").starts_with("splitmail-uidlist 3\n"));
    folder g(m.root, "host");
    ASSERT_FALSE(g.sync());
    EXPECT_EQ(g.uidvalidity(), 1234u);
    EXPECT_EQ(g.uidnext(), 9u);
    EXPECT_NE(g.find(5), nullptr);
    EXPECT_NE(g.find(8), nullptr);
}

TEST(ImapStoreDovecot, UidlistKeywordsAndSubscriptionsKept) {
    tmp_maildir m;
    m.put("cur", "1700000000.M1P1.dove,S=3,W=4:2,Sa");
    m.put("cur", "1700000001.M2P1.dove,S=3,W=4:2,FSb");
    m.put("new", "1700000002.M3P1.dove"); // delivered, not yet seen by Dovecot's uidlist
    std::ofstream(m.root / "dovecot-uidlist")
        << "3 V1699999999 N13 G0123456789abcdef0123456789abcdef\n"
        << "10 :1700000000.M1P1.dove,S=3,W=4\n"
        << "12 G0123 W4 :1700000001.M2P1.dove,S=3,W=4\n";
    std::ofstream(m.root / "dovecot-keywords") << "0 $Forwarded\n1 project-x\n";
    std::ofstream(m.root / "subscriptions") << "V\t2\n\nINBOX\nSent\nLists\tdev\n";
    fs::create_directories(m.root / ".Sent" / "cur");
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    EXPECT_EQ(f.uidvalidity(), 1699999999u);
    ASSERT_EQ(f.messages().size(), 3u);
    ASSERT_NE(f.find(10), nullptr);
    ASSERT_NE(f.find(12), nullptr);
    ASSERT_NE(f.find(13), nullptr) << "unknown file gets Dovecot's next UID";
    EXPECT_EQ(f.uidnext(), 14u);
    EXPECT_EQ(f.flags_text(*f.find(10), false), "(\\Seen $Forwarded)");
    EXPECT_EQ(f.flags_text(*f.find(12), false), "(\\Flagged \\Seen project-x)");
    EXPECT_EQ(f.find(12)->size, 3u);
    EXPECT_GT(f.highest_modseq(), 1'600'000'000u) << "above any MODSEQ Dovecot handed out";
    mailbox_store st(m.root, "host");
    EXPECT_EQ(st.subscriptions(), (std::vector<std::string>{"INBOX", "Sent", "Lists.dev"}));
    ASSERT_FALSE(st.subscribe("Trash", true));
    EXPECT_EQ(m.read("subscriptions"), "V\t2\n\nINBOX\nSent\nLists\tdev\nTrash\n")
        << "Dovecot's format is kept";
    EXPECT_TRUE(fs::exists(m.root / "dovecot-uidlist")) << "left in place, not rewritten";
}

TEST(ImapStoreCopy, KeywordsRenumberedInTheTarget) {
    tmp_maildir a, b;
    a.put("new", "1700000000.M1P1Q1.host");
    folder fa(a.root, "host"), fb(b.root, "host");
    ASSERT_FALSE(fa.sync());
    ASSERT_FALSE(fb.sync());
    ASSERT_TRUE(fb.intern_keyword("other"));
    auto k = fa.intern_keyword("invoice");
    ASSERT_FALSE(fa.set_flags(1, flag_seen, 1u << *k));
    auto uid = fb.copy_from(fa, 1);
    ASSERT_TRUE(uid);
    EXPECT_EQ(fb.flags_text(*fb.find(*uid), false), "(\\Seen invoice)");
    EXPECT_EQ(b.read("dovecot-keywords"), "0 other\n1 invoice\n");
}

// Fuzzer input (tests/fuzz/corpus/imap_index_fuzz/regression_slow_uidlist, without its first
// byte): a V3 snapshot with UIDNEXT 169,882,369 and a forgotten expunge (pruned MODSEQ 2676).
// expunged_since(0) listed every absent UID below UIDNEXT one by one: 680 MB, 6.4 s. Now
// ranges: the work follows the messages, not UIDNEXT.
TEST(ImapStore, HugeUidnextWithPrunedExpungesIsCheap) {
    static const unsigned char index[] = {
        0x73, 0x70, 0x6c, 0x69, 0x74, 0x6d, 0x61, 0x69, 0x6c, 0x2d, 0x75, 0x69, 0x64, 0x6c, 0x69,
        0x73, 0x74, 0x20, 0x33, 0x0a, 0x1b, 0x73, 0x11, 0x6b, 0x01, 0x33, 0x20, 0x0a, 0x31, 0x50,
        0x30, 0x51, 0x72, 0x3c, 0x68, 0x73, 0x74, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x37, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1b, 0x73,
        0x11, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
        0x00, 0x00, 0x00, 0x16, 0x00, 0x01, 0x00, 0x31, 0x37, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30,
        0x30, 0x30, 0x2e, 0x4d, 0x31, 0x50, 0x31, 0x51, 0x31, 0x2e, 0x68, 0x6f, 0x73, 0x74, 0x2c,
        0x53, 0x3d, 0x33, 0x3a, 0x32, 0x2c, 0x53, 0x61, 0x0a, 0x31, 0x37, 0x30, 0x30, 0x30, 0x30,
        0x30, 0x30, 0x30, 0x31, 0x2e, 0x4d, 0x31, 0x50, 0x31, 0x51, 0x32, 0x2e, 0x68, 0x6f, 0x73,
        0x74, 0x0a, 0x41, 0x20, 0x32, 0x20, 0x39, 0x20, 0x33, 0x20, 0x2d, 0x20, 0x63, 0x20, 0x31,
        0x37, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x31, 0x2e, 0x4d, 0x31, 0x50, 0x31, 0x51,
        0x32, 0x2e, 0x68, 0x6f, 0x73, 0x74, 0x3a, 0x32, 0x2c, 0x53, 0x0a, 0x58, 0x20, 0x31, 0x20,
        0x31, 0x30, 0x0a, 0x44, 0x20, 0x31, 0x20, 0x32, 0x0a, 0x41, 0x20, 0x33, 0x20, 0x34, 0x20,
        0x35, 0x20, 0x36, 0x20, 0x6e, 0x20, 0x74, 0x6f, 0x72, 0x6e,
    };
    tmp_maildir d;
    d.put("cur", "1700000000.M1P1Q1.host,S=3:2,Sa");
    d.put("new", "1700000001.M1P1Q2.host");
    std::ofstream(d.root / "splitmail-uidlist", std::ios::binary)
        .write(reinterpret_cast<const char*>(index), sizeof index);
    auto t0 = std::chrono::steady_clock::now();
    folder f(d.root, "host");
    ASSERT_FALSE(f.sync());
    auto gone = f.expunged_since(0);
    double limit = std::getenv("ASAN_OPTIONS") ? 3.0 : 1.0; // generous bound (seconds)
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), limit);
    // The index is kept as read (its UIDVALIDITY, UIDNEXT); the file it does not name got
    // the next UID.
    EXPECT_EQ(f.uidvalidity(), 0x6b11731bu);
    EXPECT_EQ(f.uidnext(), 0x0a203301u + 1);
    ASSERT_EQ(f.messages().size(), 2u);
    EXPECT_LE(gone.size(), f.messages().size() + 1);
    std::uint64_t absent = 0;
    for (const auto& r : gone) absent += r.hi - r.lo + 1;
    EXPECT_EQ(absent, f.uidnext() - 1 - f.messages().size());
}

} // namespace
} // namespace splitmail::home::imap
