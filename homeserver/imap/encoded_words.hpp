#pragma once
// RFC 2047 encoded words for SEARCH and SORT: the shared decoder in common/text (its header says
// what it guarantees); IMAP leaves a word in an unknown charset as written.
#include "splitmail/text/encoded_words.hpp"

namespace splitmail::home::imap {
namespace encoded_words = splitmail::text::encoded_words;
} // namespace splitmail::home::imap
