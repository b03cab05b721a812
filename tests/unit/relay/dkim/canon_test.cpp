// Relaxed canonicalization: RFC 6376 3.4.5 examples and edge cases, fed whole, byte by byte and
// in every two-piece split; body hashes of the corpus against dkimpy's.
#include "dkim/body_hash.hpp"
#include "dkim/canon.hpp"
#include "dkim/message.hpp"
#include "dkim/signer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace splitmail::relay::dkim;
using namespace std::string_view_literals;

namespace {

std::string chunked(std::string_view body, std::size_t step) {
    body_canonicalizer c;
    std::string out;
    auto sink = [&](std::string_view s) { out.append(s); };
    for (std::size_t at = 0; at < body.size(); at += step) c.update(body.substr(at, step), sink);
    c.finish(sink);
    EXPECT_EQ(c.emitted(), out.size());
    return out;
}

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    EXPECT_TRUE(in) << p;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace

TEST(dkim_canon, rfc6376_3_4_5_header_example) {
    EXPECT_EQ(relaxed_header("A: X\r\n"), "a:X\r\n");
    EXPECT_EQ(relaxed_header("B : Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
}

TEST(dkim_canon, rfc6376_3_4_5_body_example) {
    const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
    EXPECT_EQ(relaxed_body(body), " C\r\nD E\r\n");
}

TEST(dkim_canon, header_table) {
    const std::pair<std::string_view, std::string_view> table[] = {
        {"Subject: hello\r\n", "subject:hello\r\n"},
        {"SUBJECT:hello", "subject:hello\r\n"}, // no line end given
        {"Subject:   \t hello  world \t\r\n", "subject:hello world\r\n"},
        {"Subject \t:x\r\n", "subject:x\r\n"}, // WSP before the colon
        {"To: a@b,\r\n c@d,\r\n\td@e\r\n", "to:a@b, c@d, d@e\r\n"},
        {"To: a@b,\r\n\r\n c@d\r\n", "to:a@b, c@d\r\n"}, // empty continuation line
        {"X-Empty:\r\n", "x-empty:\r\n"},
        {"X-Spaces:    \r\n", "x-spaces:\r\n"},
        {"X-Tabs:\t\t\r\n \t\r\n", "x-tabs:\r\n"},
        {"X-Colon: a: b :c\r\n", "x-colon:a: b :c\r\n"}, // only the first colon separates
        {"Content-TYPE: text/plain ;  charset = x\r\n",
         "content-type:text/plain ; charset = x\r\n"},
        {"From: J\xc3\xbcrgen <j@x>\r\n", "from:J\xc3\xbcrgen <j@x>\r\n"}, // 8-bit kept as is
        {"Subject: bare\nlf\r\n", "subject:barelf\r\n"},
        {"no colon at all\r\n", "no colon at all:\r\n"},
        {"", ":\r\n"},
    };
    for (auto [in, want] : table) EXPECT_EQ(relaxed_header(in), want) << in;
}

TEST(dkim_canon, body_table) {
    const std::pair<std::string_view, std::string_view> table[] = {
        {"", ""},     // RFC 6376 3.4.4: empty body is null input
        {"\r\n", ""}, // only empty lines: null input too
        {"\r\n\r\n\r\n", ""},
        {"  \r\n\t\r\n", ""}, // lines of WSP are empty once trimmed
        {"a", "a\r\n"},       // missing final CRLF is added
        {"a\r\n", "a\r\n"},
        {"a\r\n\r\n\r\n", "a\r\n"},           // trailing empty lines dropped
        {"a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"}, // inner empty lines kept
        {"a  \t \r\n", "a\r\n"},              // WSP at line end dropped
        {"a \t b\r\n", "a b\r\n"},            // WSP run -> one SP
        {"\t\ta\r\n", " a\r\n"},              // leading run -> one SP
        {"a\r\n \r\nb", "a\r\n\r\nb\r\n"},    // WSP-only inner line becomes empty
        {"a\r\n\t \r\n \r\n", "a\r\n"},       // WSP-only trailing lines dropped
        {"a\nb\n", "a\r\nb\r\n"},             // bare LF is a line end
        {"a\rb", "a\r\nb\r\n"},               // bare CR is a line end
        {"a\r", "a\r\n"},
        {"a\r\r\n", "a\r\n"}, // CR then CRLF: an empty line, trailing
        {".\r\n", ".\r\n"},
        {"x\0y\r\n"sv, "x\0y\r\n"sv}, // NUL is an octet like any other
    };
    for (auto [in, want] : table) {
        EXPECT_EQ(relaxed_body(in), want) << testing::PrintToString(std::string(in));
        for (std::size_t step = 1; step <= in.size(); ++step)
            EXPECT_EQ(chunked(in, step), want) << "step " << step;
    }
}

TEST(dkim_canon, every_two_piece_split_gives_the_same_output) {
    const std::string body = "l1 \t x  \r\n\r\n  \r\n\tl4\r\r\nl5\n\n \r\n\r\n";
    const std::string whole = relaxed_body(body);
    EXPECT_EQ(whole, "l1 x\r\n\r\n\r\n l4\r\n\r\nl5\r\n");
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
        body_canonicalizer c;
        std::string out;
        auto sink = [&](std::string_view s) { out.append(s); };
        c.update(std::string_view(body).substr(0, cut), sink);
        c.update(std::string_view(body).substr(cut), sink);
        c.finish(sink);
        EXPECT_EQ(out, whole) << "cut at " << cut;
    }
}

TEST(dkim_canon, relaxed_body_is_idempotent_and_has_no_bare_cr_or_lf) {
    const std::string inputs[] = {"a\rb\nc\r\n", " x \r\n\r\n", "\r\r\r", "\n\n x", "y\t"};
    for (const auto& in : inputs) {
        const std::string once = relaxed_body(in);
        EXPECT_EQ(relaxed_body(once), once);
        for (std::size_t i = 0; i < once.size(); ++i) {
            if (once[i] == '\r') {
                EXPECT_EQ(once.at(i + 1), '\n');
            }
            if (once[i] == '\n') {
                EXPECT_EQ(once.at(i - 1), '\r');
            }
        }
    }
}

TEST(dkim_canon, large_body_streams_in_slices) {
    // More than one internal 16 KiB slice, with a CRLF split across the slice boundary.
    std::string body(16 * 1024 - 1, 'a');
    body += "\r\n";
    body += std::string(40000, 'b');
    body += " \r\n\r\n";
    const std::string want =
        std::string(16 * 1024 - 1, 'a') + "\r\n" + std::string(40000, 'b') + "\r\n";
    EXPECT_EQ(relaxed_body(body), want);
    EXPECT_EQ(chunked(body, 7000), want);
}

TEST(dkim_body_hash, empty_body_is_sha256_of_nothing) {
    const sha256_digest d = body_hash("");
    EXPECT_EQ(base64({reinterpret_cast<const char*>(d.data()), d.size()}),
              "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

TEST(dkim_body_hash, rfc8463_example_body) {
    // RFC 8463 A.3: bh= of the example message (relaxed body).
    const sha256_digest d =
        body_hash("Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n");
    EXPECT_EQ(base64({reinterpret_cast<const char*>(d.data()), d.size()}),
              "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
}

TEST(dkim_body_hash, corpus_matches_dkimpy_whole_and_in_chunks) {
    const std::filesystem::path dir = std::filesystem::path(SPLITMAIL_TEST_DATA) / "dkim";
    std::istringstream expected(read_file(dir / "bodyhash.expected"));
    std::string line;
    int checked = 0;
    while (std::getline(expected, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto sp = line.find(' ');
        const std::string name = line.substr(0, sp);
        const std::string want = line.substr(sp + 1);
        const std::string msg = read_file(dir / "corpus" / name);
        const std::string_view body = split_message(msg).body;
        const sha256_digest whole = body_hash(body);
        EXPECT_EQ(base64({reinterpret_cast<const char*>(whole.data()), whole.size()}), want)
            << name;
        for (std::size_t step : {1, 3, 64, 4096}) {
            body_hasher h;
            for (std::size_t at = 0; at < body.size(); at += step) h.update(body.substr(at, step));
            EXPECT_EQ(h.finish(), whole) << name << " step " << step;
        }
        ++checked;
    }
    EXPECT_GE(checked, 13);
}

TEST(dkim_body_hash, finish_twice_is_a_logic_error) {
    body_hasher h;
    h.update("x");
    h.finish();
    EXPECT_THROW(h.finish(), std::logic_error);
    EXPECT_THROW(h.update("y"), std::logic_error);
}
