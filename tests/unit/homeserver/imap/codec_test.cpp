// IMAP command reader and tokenizer: whole and byte-by-byte feeding, literals, limits.
#include "imap/codec.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>

namespace splitmail::home::imap {
namespace {

struct run_result {
    std::vector<std::string> commands;
    std::vector<std::string> errors;
    int continuations = 0;
};

run_result run(const std::string& input, bool byte_by_byte, codec_limits l = {}) {
    command_reader r(l);
    run_result out;
    auto pump = [&] {
        while (true) {
            auto ev = r.next();
            if (ev == command_reader::event_kind::need_more) return;
            if (ev == command_reader::event_kind::continuation) ++out.continuations;
            if (ev == command_reader::event_kind::complete) out.commands.push_back(r.text());
            if (ev == command_reader::event_kind::error) out.errors.push_back(r.error_response());
        }
    };
    if (byte_by_byte) {
        for (char c : input) {
            r.feed(std::string_view(&c, 1));
            pump();
        }
    } else {
        r.feed(input);
        pump();
    }
    return out;
}

TEST(ImapCodec, LinesAndLiteralsWholeAndByteByByte) {
    std::string in = "a1 NOOP\r\na2 LOGIN {4}\r\nuser {5+}\r\npa ss\r\na3 CAPABILITY\n";
    for (bool bb : {false, true}) {
        auto r = run(in, bb);
        ASSERT_EQ(r.commands.size(), 3u) << bb;
        EXPECT_EQ(r.continuations, 1) << "only the synchronizing literal asks for '+'";
        auto c = parse_command(r.commands[1]);
        ASSERT_TRUE(c);
        EXPECT_EQ(c->tag, "a2");
        EXPECT_EQ(c->name, "LOGIN");
        ASSERT_EQ(c->args.size(), 2u);
        EXPECT_EQ(c->args[0].text, "user");
        EXPECT_TRUE(c->args[0].literal);
        EXPECT_EQ(c->args[1].text, "pa ss");
    }
}

TEST(ImapCodec, LiteralMayContainCrlfAndBraces) {
    auto r = run("x APPEND INBOX {9}\r\na\r\n{3}\r\nb\r\n", true);
    ASSERT_EQ(r.commands.size(), 1u);
    auto c = parse_command(r.commands[0]);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->args[1].text, "a\r\n{3}\r\nb");
}

TEST(ImapCodec, TooLongLineIsBadAndReadingGoesOn) {
    codec_limits l;
    l.max_line = 100;
    for (bool bb : {false, true}) {
        auto r = run("t1 NOOP " + std::string(300, 'x') + "\r\nt2 NOOP\r\n", bb, l);
        ASSERT_EQ(r.errors.size(), 1u);
        EXPECT_NE(r.errors[0].find("BAD [TOOBIG]"), std::string::npos);
        ASSERT_EQ(r.commands.size(), 1u);
        EXPECT_EQ(r.commands[0], "t2 NOOP");
    }
}

TEST(ImapCodec, LiteralOverTheCap) {
    codec_limits l;
    l.max_literal = 10;
    l.max_append_literal = 100;
    auto r = run("t1 LOGIN {11}\r\nt2 NOOP\r\n", false, l);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0], "t1 NO [TOOBIG] Literal too large");
    ASSERT_EQ(r.commands.size(), 1u) << "the client sent no octets; the next command runs";
    EXPECT_EQ(r.continuations, 0);
    auto a = run("t3 APPEND INBOX {50}\r\n" + std::string(50, 'm') + "\r\n", true, l);
    EXPECT_EQ(a.commands.size(), 1u) << "APPEND has its own, larger cap";
    command_reader nr(l);
    nr.feed("t4 LOGIN {11+}\r\n");
    EXPECT_EQ(nr.next(), command_reader::event_kind::error);
    EXPECT_TRUE(nr.fatal()) << "a non-synchronizing literal we refuse ends the connection";
}

TEST(ImapCodec, LiteralCapIsForTheWholeCommand) {
    codec_limits l;
    l.max_literal = 10;
    l.max_append_literal = 100;
    // MULTIAPPEND: 60 + 30 octets fit the 100-octet budget; a third literal of 20 does not.
    auto ok = run("t1 APPEND INBOX {60}\r\n" + std::string(60, 'a') + " {30}\r\n" +
                      std::string(30, 'b') + "\r\n",
                  true, l);
    ASSERT_EQ(ok.commands.size(), 1u);
    EXPECT_TRUE(ok.errors.empty());
    for (bool bb : {false, true}) {
        auto r = run("t2 APPEND INBOX {60}\r\n" + std::string(60, 'a') + " {30}\r\n" +
                         std::string(30, 'b') + " {20}\r\nt3 NOOP\r\n",
                     bb, l);
        ASSERT_EQ(r.errors.size(), 1u) << bb;
        EXPECT_EQ(r.errors[0], "t2 NO [TOOBIG] Literal too large");
        ASSERT_EQ(r.commands.size(), 1u) << "the refused command is gone, the next one runs";
        EXPECT_EQ(r.commands[0], "t3 NOOP");
    }
    // Other commands: two literals of 6 exceed the 10-octet budget together.
    auto s = run("t4 LOGIN {6}\r\nuser12 {6}\r\npass12\r\n", true, l);
    ASSERT_EQ(s.errors.size(), 1u);
    EXPECT_EQ(s.errors[0], "t4 NO [TOOBIG] Literal too large");
}

// Byte-by-byte parser feeding (as Dovecot's test-imap-parser): every input gives the same
// commands, errors and continuations whether fed whole, byte by byte, or split in two at
// any point.
TEST(ImapCodec, SameResultForEverySplit) {
    codec_limits l;
    l.max_line = 64;
    l.max_literal = 32;
    l.max_append_literal = 4096;
    const std::vector<std::string> inputs = {
        "a1 NOOP\r\n",
        "a1 LOGIN {4}\r\nuser {5+}\r\npa ss\r\na2 NOOP\r\n",
        "a LOGIN {0}\r\n {0+}\r\n\r\n",                                   // empty literals
        "z APPEND INBOX (\\Seen) {11+}\r\n{3}\r\nabc\r\nx\r\nz2 NOOP\n",  // literal looks like one
        "big APPEND INBOX {4096+}\r\n" + std::string(4096, 'q') + "\r\n", // LITERAL- size
        "t1 NOOP " + std::string(100, 'x') + "\r\nt2 NOOP\r\n",           // line too long, recovery
        "t3 LOGIN {33}\r\nt4 NOOP\r\n",                                   // literal over the cap
        "t5 LOGIN {33+}\r\n" + std::string(33, 'p') + "\r\n",             // fatal
        "bare\nlf NOOP\n\r\n",
        "m SEARCH {1}\r\n(\r\n",
    };
    for (const auto& in : inputs) {
        auto whole = run(in, false, l);
        auto bytes = run(in, true, l);
        EXPECT_EQ(bytes.commands, whole.commands) << in;
        EXPECT_EQ(bytes.errors, whole.errors) << in;
        EXPECT_EQ(bytes.continuations, whole.continuations) << in;
        bool fatal = !whole.errors.empty() &&
                     whole.errors.back().find("BAD [TOOBIG] Literal") != std::string::npos;
        for (std::size_t cut = 1; cut < in.size() && !fatal; cut += in.size() > 200 ? 97 : 1) {
            command_reader r(l);
            run_result out;
            for (auto part : {in.substr(0, cut), in.substr(cut)}) {
                r.feed(part);
                while (true) {
                    auto ev = r.next();
                    if (ev == command_reader::event_kind::need_more) break;
                    if (ev == command_reader::event_kind::continuation) ++out.continuations;
                    if (ev == command_reader::event_kind::complete)
                        out.commands.push_back(r.text());
                    if (ev == command_reader::event_kind::error)
                        out.errors.push_back(r.error_response());
                }
            }
            EXPECT_EQ(out.commands, whole.commands) << "cut " << cut << ": " << in;
            EXPECT_EQ(out.errors, whole.errors) << "cut " << cut << ": " << in;
        }
    }
    auto big = run(inputs[4], true, l);
    ASSERT_EQ(big.commands.size(), 1u);
    auto c = parse_command(big.commands[0]);
    ASSERT_TRUE(c) << c.error().text;
    EXPECT_EQ(c->args[1].text, std::string(4096, 'q'));
    auto empty = parse_command(run(inputs[2], true, l).commands.at(0));
    ASSERT_TRUE(empty);
    ASSERT_EQ(empty->args.size(), 2u);
    EXPECT_EQ(empty->args[0].text, "");
    EXPECT_TRUE(empty->args[1].literal);
    auto z = run(inputs[3], true, l);
    ASSERT_EQ(z.commands.size(), 2u) << "octets inside a literal are never a command";
    EXPECT_EQ(parse_command(z.commands[0])->args.back().text, "{3}\r\nabc\r\nx");
    EXPECT_EQ(z.commands[1], "z2 NOOP");
    auto m = run(inputs[9], true, l);
    ASSERT_EQ(m.commands.size(), 1u);
    EXPECT_EQ(parse_command(m.commands[0])->args.at(0).text, "(") << "a literal '(' is a string";
}

TEST(ImapCodec, Literal8ForAppend) {
    std::string body("a\0b", 3);
    for (bool bb : {false, true}) {
        auto r = run(
            "a APPEND INBOX ~{3}\r\n" + body + "\r\nb APPEND INBOX ~{3+}\r\n" + body + "\r\n", bb);
        ASSERT_EQ(r.commands.size(), 2u) << bb;
        EXPECT_EQ(r.continuations, 1);
        for (const auto& text : r.commands) {
            auto c = parse_command(text);
            ASSERT_TRUE(c) << c.error().text;
            ASSERT_EQ(c->args.size(), 2u);
            EXPECT_TRUE(c->args[1].literal);
            EXPECT_EQ(c->args[1].text, body);
        }
    }
    auto t = parse_command("a X ~abc");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->args.at(0).text, "~abc") << "'~' without '{' is part of an atom";
}

TEST(ImapCodec, LiteralMinusSuffixIsReadAsNonSynchronizing) {
    // "{n-}" is not RFC 7888 syntax, but its octets must never be taken for commands.
    auto r = run("a LOGIN {2-}\r\nab x\r\n", true);
    ASSERT_EQ(r.commands.size(), 1u);
    EXPECT_EQ(r.continuations, 0);
}

TEST(ImapCodec, TokenizerAtomsStringsListsSections) {
    auto c = parse_command(
        "f1 UID FETCH 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> \"q\\\"x\")");
    ASSERT_TRUE(c) << c.error().text;
    EXPECT_EQ(c->name, "UID FETCH");
    ASSERT_EQ(c->args.size(), 2u);
    EXPECT_EQ(c->args[0].text, "1:*,5");
    ASSERT_TRUE(c->args[1].is_list());
    ASSERT_EQ(c->args[1].items.size(), 3u);
    EXPECT_EQ(c->args[1].items[1].text, "BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>");
    EXPECT_EQ(c->args[1].items[2].text, "q\"x");
}

// Issue 15 item 2: "[" is an ATOM-CHAR (RFC 3501 9: atom-specials exclude only "]"); it opens
// a section only after BODY/BODY.PEEK/BINARY/BINARY.PEEK/BINARY.SIZE.
TEST(ImapCodec, OpenBracketIsAnAtomCharOutsideSections) {
    std::string in =
        "a SELECT a[b\r\nb CREATE a[b\r\nc LIST \"\" a[b\r\n"
        "d FETCH 1 (body.peek[HEADER.FIELDS (From)]<0.5> BINARY[1] BINARY.SIZE[2])\r\n";
    for (bool bb : {false, true}) {
        auto r = run(in, bb);
        ASSERT_EQ(r.commands.size(), 4u) << bb;
        for (int i = 0; i < 3; ++i) {
            auto c = parse_command(r.commands[static_cast<std::size_t>(i)]);
            ASSERT_TRUE(c) << c.error().text;
            EXPECT_EQ(c->args.back().text, "a[b") << r.commands[static_cast<std::size_t>(i)];
        }
        auto f = parse_command(r.commands[3]);
        ASSERT_TRUE(f) << f.error().text;
        ASSERT_EQ(f->args.at(1).items.size(), 3u);
        EXPECT_EQ(f->args[1].items[0].text, "body.peek[HEADER.FIELDS (From)]<0.5>");
        EXPECT_EQ(f->args[1].items[1].text, "BINARY[1]");
        EXPECT_EQ(f->args[1].items[2].text, "BINARY.SIZE[2]");
    }
    EXPECT_FALSE(parse_command("f FETCH 1 BODY[HEADER")) << "a section still needs its ']'";
}

TEST(ImapCodec, TokenizerErrors) {
    EXPECT_FALSE(parse_command("NOOP"));
    EXPECT_FALSE(parse_command("+x NOOP"));
    EXPECT_EQ(parse_command("a1 LOGIN \"unterminated").error().tag, "a1");
    EXPECT_FALSE(parse_command("a1 X (a (b)"));
    std::string deep = "a1 X " + std::string(40, '(') + std::string(40, ')');
    auto d = parse_command(deep, 16);
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().text.find("nested"), std::string::npos);
}

TEST(ImapCodec, SequenceSets) {
    auto s = parse_sequence_set("1,3:5,9:*");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->contains(1, 20));
    EXPECT_FALSE(s->contains(2, 20));
    EXPECT_TRUE(s->contains(4, 20));
    EXPECT_TRUE(s->contains(20, 20));
    EXPECT_TRUE(parse_sequence_set("*:3")->contains(7, 7));
    EXPECT_TRUE(parse_sequence_set("$")->saved);
    for (auto bad : {"", "0", "1:", "a", "1,,2", "01"})
        EXPECT_FALSE(parse_sequence_set(bad)) << bad;
}

TEST(ImapCodec, ModifiedUtf7MailboxNames) {
    const std::pair<std::string, std::string> both[] = {
        {"INBOX", "INBOX"},
        {"Entw&APw-rfe", "Entw\xC3\xBC"
                         "rfe"},            // Entwürfe
        {"~peter/mail/&U,BTFw-/&ZeVnLIqe-", // RFC 3501 5.1.3
         "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"},
        {"Tom &- Jerry", "Tom & Jerry"},
        {"&2D3eAA-", "\xF0\x9F\x98\x80"}, // U+1F600, surrogates
    };
    for (const auto& [m7, u8] : both) {
        EXPECT_EQ(mutf7_to_utf8(m7), u8) << m7;
        EXPECT_EQ(utf8_to_mutf7(u8), m7) << m7;
    }
    for (auto bad : {"&Jjo", "&AGE-", "a\x01b", "&2D0-", "&3gA-", "caf\xC3\xA9", "&Jj!-"})
        EXPECT_FALSE(mutf7_to_utf8(bad)) << bad;
    for (auto bad : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "a\tb", "\xF4\x90\x80\x80"})
        EXPECT_FALSE(utf8_to_mutf7(bad)) << bad;
}

// Issue 11: many ranges are merged once and binary-searched; same answers as the definition.
TEST(ImapCodec, SequenceSetManyRangesAgreeWithDefinition) {
    std::mt19937 rng(3);
    for (int iter = 0; iter < 300; ++iter) {
        std::string text;
        for (unsigned k = 0, n = 1 + rng() % 30; k < n; ++k) {
            auto num = [&]() {
                return rng() % 8 == 0 ? std::string("*") : std::to_string(1 + rng() % 60);
            };
            text += (k ? "," : "") + num();
            if (rng() % 2) text += ":" + num();
        }
        auto set = parse_sequence_set(text);
        ASSERT_TRUE(set) << text;
        for (std::uint32_t largest : {1u, 30u, 70u}) {
            for (std::uint32_t n = 1; n <= 80; ++n) {
                bool want = false;
                for (const auto& r : set->ranges) {
                    std::uint32_t a = r.lo ? r.lo : largest, b = r.hi ? r.hi : largest;
                    if (a > b) std::swap(a, b);
                    want |= n >= a && n <= b;
                }
                ASSERT_EQ(set->contains(n, largest), want)
                    << text << " n=" << n << " * = " << largest;
            }
        }
    }
    std::string odd;
    for (int i = 1; i < 60000; i += 2) odd += (odd.empty() ? "" : ",") + std::to_string(i);
    auto big = parse_sequence_set(odd);
    ASSERT_TRUE(big);
    auto t0 = std::chrono::steady_clock::now();
    std::size_t hits = 0;
    for (std::uint32_t n = 1; n <= 200000; ++n) hits += big->contains(n, 200000);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(hits, 30000u);
    EXPECT_LT(secs, std::getenv("ASAN_OPTIONS") ? 1.5 : 0.5) << "30,000 ranges x 200,000 numbers";
}

// Issue 11 item 12: names that are not canonical modified UTF-7 (RFC 3501 5.1.3).
TEST(ImapCodec, ModifiedUtf7Validity) {
    for (auto good : {"INBOX", "Entw&APw-rfe", "Tom &- Jerry", "&-", "&2D3eAA-",
                      "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "a.b.c", "&AKA-"})
        EXPECT_TRUE(mutf7_valid(good)) << good;
    const char* bad[] = {
        "&AAA-",       // U+0000
        "&AAE-",       // U+0001, a control character
        "&AJ8-",       // U+009F, a C1 control character
        "&Jjo-bad&",   // unterminated run
        "&",           // unterminated run
        "&ZeVnLIqe",   // unterminated run
        "&AGE-",       // encoded printable ASCII ("a")
        "&ACY-",       // encoded "&" (must be "&-")
        "&Jjo-&Jjo-",  // two runs where one is due (non-canonical)
        "&JjoA-",      // non-shortest: a superfluous base64 octet
        "&Jjp-",       // non-zero padding bits
        "&2D0-",       // unpaired high surrogate
        "&3gA-",       // unpaired low surrogate
        "&2D3YPQ-",    // high surrogate followed by a high surrogate
        "caf\xC3\xA9", // 8-bit octets (UTF-8 is not modified UTF-7)
        "a\x01b",
    };
    for (auto b : bad) EXPECT_FALSE(mutf7_valid(b)) << b;
    EXPECT_FALSE(mutf7_to_utf8("&AAA-")) << "must never decode to NUL";
}

TEST(ImapCodec, ResponseStrings) {
    EXPECT_EQ(astring("Sent"), "Sent");
    EXPECT_EQ(astring("My Box"), "\"My Box\"");
    EXPECT_EQ(astring("NIL"), "\"NIL\"");
    EXPECT_EQ(quoted_or_literal("a\"b"), "\"a\\\"b\"");
    EXPECT_EQ(quoted_or_literal("a\r\nb"), "{4}\r\na\r\nb");
}

} // namespace
} // namespace splitmail::home::imap
