// The folder's SORT/THREAD header cache (imap/header_cache.hpp): values from the header,
// written to splitmail-headercache once persist_after entries were read, loaded by the next
// folder object (a restart) instead of reading the headers again; a damaged, stale or
// truncated file is ignored whole.
#include "imap/header_cache.hpp"
#include "imap/store.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

struct cache_maildir {
    fs::path root;
    explicit cache_maildir(int n) {
        char tmpl[] = "/tmp/imap-headercache-XXXXXX";
        root = ::mkdtemp(tmpl);
        for (auto d : {"cur", "new", "tmp"}) fs::create_directories(root / d);
        add(0, n);
    }
    // Messages from..to-1; message i is dated 2 Jan 2023 10:00 plus i minutes.
    void add(int from, int to) {
        for (int i = from; i < to; ++i)
            std::ofstream(
                root / "cur" /
                ("17000" + std::to_string(10000 + i) + ".M1P1Q" + std::to_string(i) + ".host:2,S"))
                << "Date: 2 Jan 2023 " << 10 + i / 60 % 14 << ":" << (i % 60 < 10 ? "0" : "")
                << i % 60 << ":00 +0000\r\nSubject: Re: topic " << i % 7 << "\r\nFrom: Ann <ann"
                << i << "@x.test>\r\nMessage-ID: <m" << i << "@x>\r\nReferences: <m"
                << (i ? i - 1 : 0) << "@x>\r\n\r\nbody\r\n";
    }
    static std::int64_t date_of(int i) { return 1672653600 + (i / 60 % 14) * 3600 + i % 60 * 60; }
    ~cache_maildir() { fs::remove_all(root); }
};

TEST(ImapHeaderCache, PersistedAndLoadedByTheNextFolderObject) {
    const int n = static_cast<int>(header_cache::persist_after) + 50;
    cache_maildir m(n);
    std::uint32_t uv = 0;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        uv = f.uidvalidity();
        auto& c = f.headers();
        for (const auto& e : f.messages()) (void)c.get(f, e);
        EXPECT_EQ(c.reads(), static_cast<std::size_t>(n));
        c.persist(f);
        ASSERT_TRUE(fs::exists(m.root / header_cache::file_name));
    }
    {
        folder f(m.root, "host"); // as after a restart
        ASSERT_FALSE(f.sync());
        auto& c = f.headers();
        const auto& first = c.get(f, f.messages().front());
        EXPECT_EQ(c.reads(), 0u) << "loaded from the file";
        EXPECT_EQ(first.subject, "TOPIC 0");
        EXPECT_TRUE(first.subject_reply);
        EXPECT_EQ(first.from, "ANN0");
        EXPECT_EQ(first.display_from, "ANN");
        EXPECT_EQ(first.message_id, "m0@x");
        EXPECT_EQ(first.sent, cache_maildir::date_of(0));
        const auto& last = c.get(f, f.messages().back());
        EXPECT_EQ(std::vector<std::string>(last.references.begin(), last.references.end()),
                  std::vector<std::string>{"m" + std::to_string(n - 2) + "@x"});
        EXPECT_EQ(c.reads(), 0u);
    }
    // Damaged: one octet changed; the checksum fails, the file is ignored, headers are read.
    std::string bytes;
    {
        std::ifstream in(m.root / header_cache::file_name, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_TRUE(header_cache::parse(bytes, uv));
    EXPECT_FALSE(header_cache::parse(bytes, uv + 1)) << "another UIDVALIDITY";
    EXPECT_FALSE(header_cache::parse(bytes.substr(0, bytes.size() - 1), uv)) << "truncated";
    EXPECT_FALSE(header_cache::parse(bytes.substr(0, 40), uv));
    EXPECT_FALSE(header_cache::parse("", uv));
    bytes[bytes.size() / 2] ^= 0x20;
    EXPECT_FALSE(header_cache::parse(bytes, uv)) << "checksum";
    std::ofstream(m.root / header_cache::file_name, std::ios::binary) << bytes;
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        auto& c = f.headers();
        EXPECT_EQ(c.get(f, f.messages().front()).subject, "TOPIC 0");
        EXPECT_EQ(c.reads(), 1u) << "the damaged file was not used";
    }
}

TEST(ImapHeaderCache, DatesAloneAfterARestartAndNewEntriesMergedIntoTheFile) {
    const int n = static_cast<int>(header_cache::persist_after) + 50;
    const int more = static_cast<int>(header_cache::persist_after);
    cache_maildir m(n);
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        auto& c = f.headers();
        for (const auto& e : f.messages()) (void)c.get(f, e);
        c.persist(f);
    }
    m.add(n, n + more); // arrived after the file was written
    {
        folder f(m.root, "host"); // a restart
        ASSERT_FALSE(f.sync());
        ASSERT_EQ(f.messages().size(), static_cast<std::size_t>(n + more));
        auto& c = f.headers();
        int i = 0;
        for (const auto& e : f.messages()) {
            EXPECT_EQ(c.sent(f, e), cache_maildir::date_of(i)) << "message " << i;
            ++i;
        }
        EXPECT_EQ(c.reads(), static_cast<std::size_t>(more)) << "only the new headers were read";
        EXPECT_EQ(c.size(), static_cast<std::size_t>(more));
        EXPECT_FALSE(c.strings_loaded()) << "the strings of the file's entries were not parsed";
        // The new entries are written together with the file's (loaded for the purpose).
        c.persist(f);
        EXPECT_EQ(c.size(), static_cast<std::size_t>(n + more));
        EXPECT_EQ(c.get(f, f.messages().front()).subject, "TOPIC 0");
        EXPECT_EQ(c.reads(), static_cast<std::size_t>(more));
    }
    {
        folder f(m.root, "host");
        ASSERT_FALSE(f.sync());
        auto& c = f.headers();
        int i = 0;
        for (const auto& e : f.messages()) {
            const auto& v = c.get(f, e);
            EXPECT_EQ(v.sent, cache_maildir::date_of(i));
            EXPECT_EQ(v.message_id, "m" + std::to_string(i) + "@x");
            ++i;
        }
        EXPECT_EQ(c.reads(), 0u) << "every entry came from the file";
    }
    // The date table alone: enough of the file for parse_dates, and its damage is seen.
    std::string bytes;
    {
        std::ifstream in(m.root / header_cache::file_name, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    const auto uv = f.uidvalidity();
    const auto table = header_cache::date_table_size(static_cast<std::uint32_t>(n + more));
    auto d = header_cache::parse_dates(bytes.substr(0, table), uv);
    ASSERT_TRUE(d);
    ASSERT_EQ(d->size(), static_cast<std::size_t>(n + more));
    EXPECT_EQ(d->back().second, cache_maildir::date_of(n + more - 1));
    EXPECT_FALSE(header_cache::parse(bytes.substr(0, table), uv)) << "strings missing";
    EXPECT_FALSE(header_cache::parse_dates(bytes.substr(0, table - 1), uv));
    std::string damaged = bytes;
    damaged[header_cache::header_size + 5] ^= 0x01; // a date
    EXPECT_FALSE(header_cache::parse_dates(damaged, uv));
    damaged = bytes;
    damaged[table + 10] ^= 0x01; // a string
    EXPECT_TRUE(header_cache::parse_dates(damaged, uv)) << "the date table is intact";
    EXPECT_FALSE(header_cache::parse(damaged, uv));
}

TEST(ImapHeaderCache, SmallFoldersWriteNoFile) {
    cache_maildir m(20);
    folder f(m.root, "host");
    ASSERT_FALSE(f.sync());
    auto& c = f.headers();
    for (const auto& e : f.messages()) (void)c.get(f, e);
    c.persist(f);
    EXPECT_FALSE(fs::exists(m.root / header_cache::file_name))
        << "fewer than persist_after reads: re-reading is cheaper than a file";
}

} // namespace
} // namespace splitmail::home::imap
