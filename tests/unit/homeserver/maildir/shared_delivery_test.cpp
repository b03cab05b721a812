// Shared delivery (issue 12 item 3): one staged file, hard-linked into every mailbox's new/,
// a copy only on EXDEV, one broken mailbox failing only itself.
#include "maildir/deliver.hpp"

#include "splitmail/durable/committer.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace splitmail;
using home::maildir::deliverer;

namespace {

struct SharedDelivery : ::testing::Test {
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sm-shared-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        d_ = std::make_unique<deliverer>(dir_, committer_, "h");
    }
    void TearDown() override {
        d_.reset();
        fs::remove_all(dir_);
    }
    std::string staged(const std::string& content) {
        auto m = d_->stage();
        EXPECT_TRUE(m);
        msg_ = *m;
        EXPECT_FALSE(msg_->append(content.substr(0, 7)));
        EXPECT_FALSE(msg_->append(content.substr(7)));
        return content;
    }
    static std::string read(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }
    fs::path dir_;
    durable::committer committer_;
    std::unique_ptr<deliverer> d_;
    std::shared_ptr<home::maildir::staged_message> msg_;
};

int exdev_link(int, const char*, int, const char*) {
    errno = EXDEV;
    return -1;
}

} // namespace

TEST_F(SharedDelivery, FiftyMailboxesOneInodeFiftyLinks) {
    std::string body = staged("Subject: hi\r\n\r\n" + std::string(100000, 'x') + "\r\n");
    std::vector<std::string> users;
    for (int i = 0; i < 50; ++i) users.push_back("u" + std::to_string(i) + "@x.test");
    auto r = d_->deliver_shared_now(*msg_, users);
    ASSERT_EQ(r.size(), 50u);
    msg_.reset(); // the staged name goes: only the 50 mailbox links remain
    struct stat first {};
    for (std::size_t i = 0; i < r.size(); ++i) {
        ASSERT_FALSE(r[i].ec) << users[i] << ": " << r[i].ec.message();
        EXPECT_EQ(r[i].file.parent_path(), dir_ / "x.test" / ("u" + std::to_string(i)) / "new");
        struct stat st {};
        ASSERT_EQ(::stat(r[i].file.c_str(), &st), 0);
        if (i == 0) first = st;
        EXPECT_EQ(st.st_ino, first.st_ino);
        EXPECT_EQ(st.st_nlink, 50u);
        EXPECT_EQ(read(r[i].file), body);
    }
    EXPECT_TRUE(fs::is_empty(dir_ / ".lmtp-tmp"));
}

TEST_F(SharedDelivery, BrokenMailboxFailsOnlyItself) {
    staged("Subject: hi\r\n\r\nbody\r\n");
    ASSERT_TRUE(d_->ensure_maildir("bad@x.test"));
    fs::remove(dir_ / "x.test/bad/new");
    std::ofstream(dir_ / "x.test/bad/new") << "not a directory";
    auto r = d_->deliver_shared_now(*msg_, {"a@x.test", "bad@x.test", "b@x.test"});
    ASSERT_EQ(r.size(), 3u);
    EXPECT_FALSE(r[0].ec);
    EXPECT_TRUE(r[1].ec);
    EXPECT_FALSE(r[2].ec);
    EXPECT_TRUE(fs::exists(r[0].file));
    EXPECT_TRUE(fs::exists(r[2].file));
}

TEST_F(SharedDelivery, CrossFileSystemFallsBackToACopy) {
    std::string body = staged("Subject: hi\r\n\r\nbody\r\n");
    d_->set_link_function(exdev_link);
    auto r = d_->deliver_shared_now(*msg_, {"a@x.test", "b@x.test"});
    ASSERT_EQ(r.size(), 2u);
    struct stat sa {
    }, sb{};
    ASSERT_FALSE(r[0].ec);
    ASSERT_FALSE(r[1].ec);
    ASSERT_EQ(::stat(r[0].file.c_str(), &sa), 0);
    ASSERT_EQ(::stat(r[1].file.c_str(), &sb), 0);
    EXPECT_NE(sa.st_ino, sb.st_ino); // copies, not links
    EXPECT_EQ(sa.st_nlink, 1u);
    EXPECT_EQ(read(r[0].file), body);
    EXPECT_EQ(read(r[1].file), body);
    EXPECT_TRUE(fs::is_empty(dir_ / "x.test/a/tmp")); // the copy's tmp name was renamed away
}

// Junk filing (issue 18): the links go into the folder's new/ (Maildir++ ".Junk", made with
// tmp/new/cur when missing, a folder IMAP lists), for every recipient; nothing in the INBOX.
TEST_F(SharedDelivery, FolderGetsTheLinksAndIsCreated) {
    std::string body = staged("X-Spam: Yes\r\nSubject: hi\r\n\r\nbody\r\n");
    ASSERT_TRUE(d_->ensure_maildir("b@x.test"));
    fs::create_directories(dir_ / "x.test/b/.Junk/cur"); // an existing folder is used as it is
    msg_->set_folder("Junk");
    auto r = d_->deliver_shared_now(*msg_, {"a@x.test", "b@x.test"});
    ASSERT_EQ(r.size(), 2u);
    for (const auto* u : {"a", "b"}) {
        auto box = dir_ / "x.test" / u;
        for (const auto* sub : {"tmp", "new", "cur"})
            EXPECT_TRUE(fs::is_directory(box / ".Junk" / sub)) << u << " " << sub;
        EXPECT_TRUE(fs::is_empty(box / "new")) << u << ": nothing in the INBOX";
    }
    for (const auto& d : r) {
        ASSERT_FALSE(d.ec) << d.ec.message();
        EXPECT_EQ(d.file.parent_path().parent_path().filename(), ".Junk");
        EXPECT_EQ(read(d.file), body);
    }
}

TEST_F(SharedDelivery, UnsafeFolderNameFailsTheDelivery) {
    for (const char* bad : {"..", ".", "a/b", ".hidden"}) {
        staged("Subject: hi\r\n\r\nbody\r\n");
        msg_->set_folder(bad);
        auto r = d_->deliver_shared_now(*msg_, {"a@x.test"});
        ASSERT_EQ(r.size(), 1u);
        EXPECT_EQ(r[0].ec, std::make_error_code(std::errc::invalid_argument)) << bad;
    }
    EXPECT_TRUE(fs::is_empty(dir_ / "x.test/a/new"));
}
