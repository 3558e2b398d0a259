package io.strata.engine.text;

import io.strata.engine.gguf.GgufFile;
import io.strata.engine.gguf.GgufStrings;
import io.strata.engine.gguf.GgufValueType;
import io.strata.engine.gguf.Metadata;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Text to token ids and back, built from a GGUF's {@code tokenizer.*} metadata, giving the same ids as llama.cpp's
 * {@code llama_tokenize} and the same bytes as its {@code llama_token_to_piece} / {@code llama_detokenize}.
 *
 * <p>Two vocabulary kinds: byte-level BPE ({@code tokenizer.ggml.model = gpt2}, with the pre-tokenizers in
 * {@link PreTokenizer#SUPPORTED}) and SentencePiece ({@code llama}, with scores and byte fallback).
 *
 * <p>Encoding: control and unknown tokens written in the text are recognised only when asked ({@code parseSpecial});
 * user-defined tokens always are. The text between them is tokenized by the vocabulary's algorithm; BOS / EOS are
 * added when {@code addSpecial} is set and the model says so ({@code tokenizer.ggml.add_bos_token} /
 * {@code add_eos_token}, with llama.cpp's defaults when absent).
 *
 * <p>An instance is immutable and safe to use from several threads at once.
 */
public final class Tokenizer {

    /** Token attributes, llama.cpp's {@code llama_token_attr} bits. */
    static final int ATTR_UNKNOWN = 1;
    static final int ATTR_UNUSED = 1 << 1;
    static final int ATTR_NORMAL = 1 << 2;
    static final int ATTR_CONTROL = 1 << 3;
    static final int ATTR_USER_DEFINED = 1 << 4;
    static final int ATTR_BYTE = 1 << 5;

    /** The vocabulary algorithm. */
    public enum Kind { BPE, SPM }

    private static final byte[] ESCAPED_SPACE = "\u2581".getBytes(StandardCharsets.UTF_8);

    // texts llama.cpp recognises by name (llama-vocab.cpp, load): end of turn, end of message, fill-in-the-middle
    private static final List<String> EOT_TEXTS = List.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
            "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
            "<end_of_utterance>");
    private static final List<String> FIM_PAD_TEXTS = List.of("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]");
    private static final List<String> FIM_REP_TEXTS = List.of("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
            "<reponame>");
    private static final List<String> FIM_SEP_TEXTS = List.of("<|file_sep|>");
    private static final Set<String> EOG_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
            "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
            "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
            "<｜end▁of▁sentence｜>", "[e~[");
    private static final Set<String> ALWAYS_RENDERED = Set.of("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>");
    private static final List<String> FIM_OTHER_TEXTS = List.of("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
            "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>",
            "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>", "<|fim_middle|>",
            "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>");
    /** Every text looked up by name. */
    private static final Set<String> NAMED = new HashSet<>();
    /** The first UTF-8 bytes of those texts: a token starting otherwise is none of them. */
    private static final boolean[] NAMED_FIRST_BYTES = new boolean[256];

    static {
        NAMED.addAll(EOT_TEXTS);
        NAMED.add("<|eom_id|>");
        NAMED.addAll(FIM_PAD_TEXTS);
        NAMED.addAll(FIM_REP_TEXTS);
        NAMED.addAll(FIM_SEP_TEXTS);
        NAMED.addAll(FIM_OTHER_TEXTS);
        NAMED.addAll(EOG_TEXTS);
        NAMED.addAll(ALWAYS_RENDERED);
        for (String name : NAMED) NAMED_FIRST_BYTES[name.getBytes(StandardCharsets.UTF_8)[0] & 0xFF] = true;
    }

    private final Kind kind;
    private final String preName;
    private final PreTokenizer pre;
    private final byte[][] textBytes;
    private final int[] attrs;
    private final byte[][] pieces; // llama_token_to_piece(id, special = true)
    private final int bos;
    private final int eos;
    private final int eot;
    private final int eom;
    private final int unk;
    private final int pad;
    private final boolean addBos;
    private final boolean addEos;
    private final boolean addSpacePrefix;
    private final boolean cleanSpaces;
    private final int[] endOfGeneration; // sorted
    private final int[] specialOrder;    // special tokens in partition order: longest text first
    private final BpeModel bpe;
    private final SpmModel spm;

    private Tokenizer(Metadata md) {
        Path file = md.file();
        String model = md.getString("tokenizer.ggml.model");
        GgufStrings tokens = md.getStrings("tokenizer.ggml.tokens");
        int n = tokens.size();
        if (n == 0) throw new TokenizerException(file, "tokenizer.ggml.tokens", "the vocabulary is empty");
        boolean ignoreMerges = false;
        boolean clean;
        boolean spacePrefix;
        boolean bosDefault;
        int bosId;
        int eosId;
        int unkId;
        switch (model) {
            case "gpt2" -> {
                kind = Kind.BPE;
                preName = md.getString("tokenizer.ggml.pre", "");
                PreTokenizer.Config config = PreTokenizer.config(preName);
                if (config == null) {
                    throw new TokenizerException(file, "tokenizer.ggml.pre", "pre-tokenizer '" + preName
                            + "' is not supported (supported: " + String.join(", ", PreTokenizer.SUPPORTED) + ")");
                }
                pre = config.kind();
                ignoreMerges = config.ignoreMerges();
                clean = config.cleanSpaces();
                spacePrefix = false;
                bosDefault = pre == PreTokenizer.LLAMA3;
                bosId = 11; // llama.cpp's defaults for gpt2 vocabularies
                eosId = 11;
                unkId = -1;
            }
            case "llama" -> {
                kind = Kind.SPM;
                preName = "";
                pre = null;
                clean = false;
                spacePrefix = true;
                bosDefault = true;
                bosId = 1;
                eosId = 2;
                unkId = 0;
            }
            default -> throw new TokenizerException(file, "tokenizer.ggml.model", "tokenizer model '" + model
                    + "' is not supported (supported: gpt2 = byte-level BPE, llama = SentencePiece)");
        }
        cleanSpaces = clean;
        addSpacePrefix = md.getBool("tokenizer.ggml.add_space_prefix", spacePrefix);

        float[] scores = scores(md, n);
        int[] types = md.has("tokenizer.ggml.token_type") ? md.getIntArray("tokenizer.ggml.token_type") : null;
        if (types != null && types.length < n) {
            throw new TokenizerException(file, "tokenizer.ggml.token_type", types.length + " types for " + n + " tokens");
        }
        // the texts stay UTF-8 bytes as stored (llama.cpp keeps them as byte strings too); a String is made only for
        // the few that may be one of the names looked up below, and for tokenText
        textBytes = new byte[n][];
        attrs = new int[n];
        Map<String, List<Integer>> named = new HashMap<>();
        for (int i = 0; i < n; i++) {
            byte[] t = tokens.length(i) == 0 ? ("[EMPTY_" + i + "]").getBytes(StandardCharsets.US_ASCII) // llama.cpp's name
                    : tokens.bytes(i);
            textBytes[i] = t;
            attrs[i] = types == null ? ATTR_NORMAL : attrOfType(types[i]);
            if (NAMED_FIRST_BYTES[t[0] & 0xFF]) {
                String text = new String(t, StandardCharsets.UTF_8);
                if (NAMED.contains(text)) named.computeIfAbsent(text, k -> new ArrayList<>()).add(i);
            }
        }

        bosId = specialId(md, "tokenizer.ggml.bos_token_id", bosId, n);
        eosId = specialId(md, "tokenizer.ggml.eos_token_id", eosId, n);
        int eotId = specialId(md, "tokenizer.ggml.eot_token_id", -1, n);
        int eomId = specialId(md, "tokenizer.ggml.eom_token_id", -1, n);
        unkId = specialId(md, "tokenizer.ggml.unknown_token_id", unkId, n);
        int padId = specialId(md, "tokenizer.ggml.padding_token_id", -1, n);
        int fimPad = specialId(md, "tokenizer.ggml.fim_pad_token_id", -1, n);
        int fimRep = specialId(md, "tokenizer.ggml.fim_rep_token_id", -1, n);
        int fimSep = specialId(md, "tokenizer.ggml.fim_sep_token_id", -1, n);
        addBos = md.getBool("tokenizer.ggml.add_bos_token", bosDefault);
        addEos = md.getBool("tokenizer.ggml.add_eos_token", false);

        // Tokens llama.cpp finds by their text when the metadata does not name them; they become control tokens.
        // (llama.cpp takes the first match in hash order when a vocabulary has several; here the first in its list,
        // so <|eot_id|> rather than <|end_of_text|> is Llama 3's end of turn. The end-of-generation set is the same.)
        if (eotId < 0) eotId = findControl(named, EOT_TEXTS);
        if (eomId < 0) eomId = findControl(named, List.of("<|eom_id|>"));
        if (fimPad < 0) fimPad = findControl(named, FIM_PAD_TEXTS);
        if (fimRep < 0) fimRep = findControl(named, FIM_REP_TEXTS);
        if (fimSep < 0) fimSep = findControl(named, FIM_SEP_TEXTS);
        findControl(named, FIM_OTHER_TEXTS);

        // end of generation: fill-in-the-middle pad/repo/separator, every token with an end-like name, EOS/EOT/EOM
        TreeSet<Integer> eog = new TreeSet<>();
        for (int id : new int[] {fimPad, fimRep, fimSep}) if (id >= 0) eog.add(id);
        for (String name : EOG_TEXTS) {
            for (int id : named.getOrDefault(name, List.of())) {
                eog.add(id);
                attrs[id] |= ATTR_CONTROL;
            }
        }
        for (String name : ALWAYS_RENDERED) {
            for (int id : named.getOrDefault(name, List.of())) attrs[id] = ATTR_USER_DEFINED; // llama.cpp's gpt-oss rule
        }
        for (int id : new int[] {eosId, eotId, eomId}) if (id >= 0) eog.add(id);
        // llama.cpp's exceptions: with <|return|> and <|call|> (or <|calls|> and <|flush|>), <|end|> does not end
        // generation; with <|tool_response>, </s> does not
        if (hasText(eog, "<|end|>") && ((hasText(eog, "<|return|>") && hasText(eog, "<|call|>"))
                || (hasText(eog, "<|calls|>") && hasText(eog, "<|flush|>")))) {
            int end = removeText(eog, "<|end|>");
            attrs[end] = ATTR_USER_DEFINED;
        }
        if (hasText(eog, "<|tool_response>") && hasText(eog, "</s>")) {
            int s = removeText(eog, "</s>");
            attrs[s] = ATTR_NORMAL;
        }
        endOfGeneration = eog.stream().mapToInt(Integer::intValue).toArray();
        bos = bosId;
        eos = eosId;
        eot = eotId;
        eom = eomId;
        unk = unkId;
        pad = padId;

        // special tokens are matched in the text longest first (llama.cpp: sort by text length, ties by id here)
        List<Integer> special = new ArrayList<>();
        for (int id = 0; id < n; id++) {
            if ((attrs[id] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) != 0) special.add(id);
        }
        special.sort((a, b) -> textBytes[b].length != textBytes[a].length
                ? Integer.compare(textBytes[b].length, textBytes[a].length) : Integer.compare(a, b));
        specialOrder = special.stream().mapToInt(Integer::intValue).toArray();

        byte[][] rawTokens = null; // BPE: each token's bytes in GPT-2's alphabet decoded, or null
        if (kind == Kind.BPE) {
            if (!md.has("tokenizer.ggml.merges")) {
                throw new TokenizerException(file, "tokenizer.ggml.merges", "a gpt2 (BPE) vocabulary needs its merges");
            }
            byte[][] raw = new byte[n][];
            for (int i = 0; i < n; i++) raw[i] = ByteLevel.decodeUtf8(textBytes[i], 0, tokens.length(i));
            bpe = new BpeModel(raw, md.getStrings("tokenizer.ggml.merges"), ignoreMerges);
            rawTokens = raw;
            spm = null;
        } else {
            ByteStringMap map = new ByteStringMap(n);
            for (int i = 0; i < n; i++) map.put(textBytes[i], i);
            int[] byteToken = new int[256];
            for (int b = 0; b < 256; b++) {
                int id = map.get(String.format("<0x%02X>", b).getBytes(StandardCharsets.US_ASCII));
                if (id < 0 && b < 0x80) id = map.get(new byte[] {(byte) b});
                byteToken[b] = id;
            }
            spm = new SpmModel(map, scores, byteToken);
            bpe = null;
        }
        pieces = new byte[n][];
        for (int i = 0; i < n; i++) pieces[i] = renderPiece(i, rawTokens == null || tokens.length(i) == 0 ? null : rawTokens[i]);
    }

    /** Builds the tokenizer from a model's metadata. */
    public static Tokenizer fromMetadata(Metadata metadata) {
        return new Tokenizer(metadata);
    }

    /** Opens a GGUF file, reads its tokenizer and closes it. */
    public static Tokenizer fromGguf(Path gguf) {
        try (GgufFile f = GgufFile.open(gguf)) {
            return new Tokenizer(f.metadata());
        }
    }

    // ---------------------------------------------------------------- loading helpers

    private static float[] scores(Metadata md, int n) {
        float[] scores = new float[n];
        Metadata.Entry e = md.entry("tokenizer.ggml.scores");
        if (e == null) return scores;
        if (e.value() instanceof float[] f) {
            if (f.length < n) throw new TokenizerException(md.file(), "tokenizer.ggml.scores", f.length + " scores for " + n + " tokens");
            System.arraycopy(f, 0, scores, 0, n);
        } else if (e.type() == GgufValueType.ARRAY && e.elementType() == GgufValueType.INT32) {
            int[] s = md.getIntArray("tokenizer.ggml.scores");
            if (s.length < n) throw new TokenizerException(md.file(), "tokenizer.ggml.scores", s.length + " scores for " + n + " tokens");
            for (int i = 0; i < n; i++) scores[i] = s[i];
        } else {
            throw new TokenizerException(md.file(), "tokenizer.ggml.scores", "expected an array of float32 or int32");
        }
        return scores;
    }

    private static int attrOfType(int type) {
        return switch (type) {
            case 1 -> ATTR_NORMAL;
            case 2 -> ATTR_UNKNOWN;
            case 3 -> ATTR_CONTROL;
            case 4 -> ATTR_USER_DEFINED;
            case 5 -> ATTR_UNUSED;
            case 6 -> ATTR_BYTE;
            default -> 0; // undefined: never rendered
        };
    }

    /** A special id from the metadata; llama.cpp keeps the default when the value is outside the vocabulary. */
    private static int specialId(Metadata md, String key, int fallback, int n) {
        int def = fallback >= n ? -1 : fallback;
        if (!md.has(key)) return def;
        long v = md.getLong(key);
        return v >= 0 && v < n ? (int) v : def;
    }

    /**
     * Marks every token with one of these texts as control; returns the id of the first name (in list order) the
     * vocabulary has, or -1.
     */
    private int findControl(Map<String, List<Integer>> named, List<String> names) {
        int found = -1;
        for (String name : names) {
            for (int id : named.getOrDefault(name, List.of())) {
                attrs[id] |= ATTR_CONTROL;
                if (found < 0) found = id;
            }
        }
        return found;
    }

    private boolean hasText(Set<Integer> ids, String text) {
        byte[] t = text.getBytes(StandardCharsets.UTF_8);
        for (int id : ids) if (Arrays.equals(textBytes[id], t)) return true;
        return false;
    }

    private int removeText(Set<Integer> ids, String text) {
        byte[] t = text.getBytes(StandardCharsets.UTF_8);
        for (int id : ids) {
            if (Arrays.equals(textBytes[id], t)) {
                ids.remove(id);
                return id;
            }
        }
        throw new IllegalStateException(text);
    }

    /** llama_token_to_piece(id, special = true); {@code raw}: a BPE token's bytes decoded from GPT-2's alphabet, or null. */
    private byte[] renderPiece(int id, byte[] raw) {
        int attr = attrs[id];
        byte[] text = textBytes[id];
        if ((attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) != 0) return text;
        if ((attr & ATTR_NORMAL) != 0) {
            if (kind == Kind.BPE) return raw != null ? raw : ByteLevel.piece(new String(text, StandardCharsets.UTF_8));
            return unescapeSpaces(text);
        }
        if ((attr & ATTR_BYTE) != 0) return new byte[] {(byte) hexByte(text)};
        return new byte[0];
    }

    /** {@code text} with each U+2581 (SentencePiece's escaped space) back to a space. */
    private static byte[] unescapeSpaces(byte[] text) {
        int m = 0;
        byte[] out = null;
        for (int i = 0; i < text.length; i++) {
            if (i + 2 < text.length && text[i] == ESCAPED_SPACE[0] && text[i + 1] == ESCAPED_SPACE[1] && text[i + 2] == ESCAPED_SPACE[2]) {
                if (out == null) {
                    out = new byte[text.length];
                    System.arraycopy(text, 0, out, 0, i);
                    m = i;
                }
                out[m++] = ' ';
                i += 2;
            } else if (out != null) {
                out[m++] = text[i];
            }
        }
        return out == null ? text.clone() : Arrays.copyOf(out, m);
    }

    /** The byte of a {@code <0xXX>} token as llama.cpp reads it ({@code strtol} of the two characters after "<0x"). */
    private static int hexByte(byte[] text) {
        int v = 0;
        for (int i = 3; i < Math.min(5, text.length); i++) {
            int d = text[i] >= 0 ? Character.digit((char) text[i], 16) : -1;
            if (d < 0) break;
            v = v * 16 + d;
        }
        return v;
    }

    // ---------------------------------------------------------------- encoding

    /** As {@code encode(text, true, false)}: BOS/EOS as the model says, special-token text taken literally. */
    public int[] encode(String text) {
        return encode(text, true, false);
    }

    /**
     * Tokenizes text exactly as llama.cpp's {@code llama_tokenize(vocab, text, addSpecial, parseSpecial)}.
     *
     * @param addSpecial   add BOS / EOS where the model's metadata asks for them
     * @param parseSpecial recognise control tokens (e.g. {@code <|eot_id|>}) written in the text
     */
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        IntList fragments = partition(bytes, parseSpecial);
        IntList out = new IntList(bytes.length / 3 + 8);
        Scratch scratch = new Scratch();
        if (addSpecial && addBos) {
            if (bos < 0) throw new IllegalStateException("the model asks for a BOS token but names none");
            out.add(bos);
        }
        if (kind == Kind.BPE) {
            IntList ends = new IntList(64);
            IntList passes = new IntList(64);
            int[] cps = new int[16];
            int[] cpOffset = new int[17];
            for (int f = 0; f < fragments.size; f += 2) {
                int a = fragments.data[f];
                int b = fragments.data[f + 1];
                if (a < 0) {
                    out.add(-a - 1);
                    continue;
                }
                int len = b;
                if (cps.length < len) {
                    cps = new int[len];
                    cpOffset = new int[len + 1];
                }
                int count = decodeUtf8(bytes, a, a + len, cps, cpOffset); // valid UTF-8: from a Java string
                pre.split(cps, count, ends, passes);
                int start = 0;
                for (int w = 0; w < ends.size; w++) {
                    int end = ends.data[w];
                    bpe.encodeWord(bytes, cpOffset[start], cpOffset[end], scratch, out);
                    start = end;
                }
            }
        } else {
            boolean prevSpecial = true; // SentencePiece prefixes a space at the start and after each special token
            byte[] escaped = new byte[16];
            for (int f = 0; f < fragments.size; f += 2) {
                int a = fragments.data[f];
                int b = fragments.data[f + 1];
                if (a < 0) {
                    out.add(-a - 1);
                    prevSpecial = true;
                    continue;
                }
                int max = 3 * (b + 1);
                if (escaped.length < max) escaped = new byte[max];
                int m = 0;
                if (addSpacePrefix && prevSpecial) m = putEscaped(escaped, m, (byte) ' ');
                for (int i = a; i < a + b; i++) m = putEscaped(escaped, m, bytes[i]);
                spm.encode(escaped, m, scratch, out);
                prevSpecial = false;
            }
        }
        if (addSpecial && addEos) {
            if (eos < 0) throw new IllegalStateException("the model asks for an EOS token but names none");
            out.add(eos);
        }
        return out.toArray();
    }

    private static int putEscaped(byte[] dst, int m, byte b) {
        if (b == ' ') {
            System.arraycopy(ESCAPED_SPACE, 0, dst, m, ESCAPED_SPACE.length);
            return m + ESCAPED_SPACE.length;
        }
        dst[m] = b;
        return m + 1;
    }

    /** Code points of {@code bytes[from, to)} and the byte offset where each starts (plus the end). */
    private static int decodeUtf8(byte[] bytes, int from, int to, int[] cps, int[] offsets) {
        int n = 0;
        int i = from;
        while (i < to) {
            int b0 = bytes[i] & 0xFF;
            int len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
            int cp = switch (len) {
                case 1 -> b0;
                case 2 -> ((b0 & 0x1F) << 6) | (bytes[i + 1] & 0x3F);
                case 3 -> ((b0 & 0x0F) << 12) | ((bytes[i + 1] & 0x3F) << 6) | (bytes[i + 2] & 0x3F);
                default -> ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3F) << 12) | ((bytes[i + 2] & 0x3F) << 6)
                        | (bytes[i + 3] & 0x3F);
            };
            offsets[n] = i;
            cps[n++] = cp;
            i += len;
        }
        offsets[n] = to;
        return n;
    }

    /**
     * Splits the text at special tokens, as llama.cpp's {@code tokenizer_st_partition}: for each special token in
     * order (longest text first), every text fragment is cut at each occurrence, left to right. Control and unknown
     * tokens take part only with {@code parseSpecial}; user-defined tokens always do.
     *
     * @return pairs (offset, length) of text fragments, or (-id - 1, 0) for a special token
     */
    private IntList partition(byte[] bytes, boolean parseSpecial) {
        IntList frags = new IntList(8);
        if (bytes.length == 0) return frags;
        frags.add(0);
        frags.add(bytes.length);
        IntList next = new IntList(8);
        for (int id : specialOrder) {
            if (!parseSpecial && (attrs[id] & (ATTR_CONTROL | ATTR_UNKNOWN)) != 0) continue;
            byte[] needle = textBytes[id];
            boolean found = false;
            next.clear();
            for (int f = 0; f < frags.size; f += 2) {
                int a = frags.data[f];
                int len = frags.data[f + 1];
                if (a < 0) {
                    next.add(a);
                    next.add(len);
                    continue;
                }
                int pos = a;
                int end = a + len;
                while (pos < end) {
                    int m = indexOf(bytes, pos, end, needle);
                    if (m < 0) break;
                    found = true;
                    if (m > pos) {
                        next.add(pos);
                        next.add(m - pos);
                    }
                    next.add(-id - 1);
                    next.add(0);
                    pos = m + needle.length;
                }
                if (pos < end) {
                    next.add(pos);
                    next.add(end - pos);
                }
            }
            if (found) {
                IntList t = frags;
                frags = next;
                next = t;
            }
        }
        return frags;
    }

    private static int indexOf(byte[] hay, int from, int to, byte[] needle) {
        int n = needle.length;
        if (n == 0) return -1;
        byte first = needle[0];
        for (int i = from; i + n <= to; i++) {
            if (hay[i] != first) continue;
            if (Arrays.equals(hay, i, i + n, needle, 0, n)) return i;
        }
        return -1;
    }

    // ---------------------------------------------------------------- decoding

    /**
     * One token's bytes, as llama.cpp's {@code llama_token_to_piece(id, lstrip = 0, special)}: control and unknown
     * tokens render only with {@code special}; a piece may be part of a UTF-8 sequence.
     */
    public byte[] piece(int id, boolean special) {
        checkId(id);
        if (!special && (attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) return new byte[0];
        return pieces[id].clone();
    }

    /** The pieces of all ids, concatenated: the exact bytes generation produced (no clean-up, no space removal). */
    public byte[] decodeBytes(int[] ids, boolean special) {
        int total = 0;
        for (int id : ids) {
            checkId(id);
            if (special || (attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) == 0) total += pieces[id].length;
        }
        byte[] out = new byte[total];
        int m = 0;
        for (int id : ids) {
            if (!special && (attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) continue;
            System.arraycopy(pieces[id], 0, out, m, pieces[id].length);
            m += pieces[id].length;
        }
        return out;
    }

    /** {@link #decodeBytes} as text (a sequence cut short at the end becomes U+FFFD). */
    public String decode(int[] ids, boolean special) {
        return new String(decodeBytes(ids, special), StandardCharsets.UTF_8);
    }

    /**
     * llama.cpp's {@code llama_detokenize(ids, removeSpecial, unparseSpecial)}, byte for byte: the leading space
     * SentencePiece added is removed, BOS/EOS dropped with {@code removeSpecial}, and for vocabularies that ask for
     * it ({@code clean_up_tokenization_spaces}) spaces before {@code ?!.,} and some apostrophes are removed.
     */
    public byte[] detokenize(int[] ids, boolean removeSpecial, boolean unparseSpecial) {
        int from = 0;
        int to = ids.length;
        boolean removeSpace = addSpacePrefix;
        if (removeSpecial && addBos && to > from && ids[from] == bos) {
            removeSpace = false;
            from++;
        }
        if (removeSpecial && addEos && to > from && ids[to - 1] == eos) to--;
        byte[] text = new byte[64];
        int total = 0;
        for (int i = from; i < to; i++) {
            int id = ids[i];
            checkId(id);
            if (!unparseSpecial && (attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) {
                removeSpace = false;
                continue;
            }
            byte[] p = pieces[id];
            int skip = removeSpace && p.length > 0 && p[0] == ' ' ? 1 : 0;
            removeSpace = false;
            if (text.length < total + p.length) text = Arrays.copyOf(text, Math.max(text.length * 2, total + p.length));
            System.arraycopy(p, skip, text, total, p.length - skip);
            total += p.length - skip;
        }
        if (cleanSpaces) total = cleanUpSpaces(text, total);
        return Arrays.copyOf(text, total);
    }

    /** llama.cpp's three clean-up passes over the detokenized bytes, in place; returns the new length. */
    private static int cleanUpSpaces(byte[] text, int total) {
        // 1: " ?", " !", " .", " ," lose the space
        int total1 = total;
        total = total1 > 0 ? 1 : 0;
        for (int i = 1; i < total1; i++) {
            byte x = text[i];
            if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
            text[total++] = x;
        }
        // 2: " ' " becomes "'"
        int total2 = total;
        total = total2 > 0 ? 1 : 0;
        for (int i = 1; i < total2; i++) {
            byte x = text[i];
            if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
                total--;
                text[++i] = 0;
            }
            text[total++] = x;
        }
        // 3: " 's", " 'm", " 're", " 've" lose the space
        int total3 = total;
        total = total3 > 0 ? 1 : 0;
        for (int i = 1; i < total3; i++) {
            byte x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
                byte x1 = text[i + 1];
                if (x1 == 's' || x1 == 'm') {
                    total--;
                } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
                    byte x2 = text[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
                }
            }
            text[total++] = x;
        }
        return total;
    }

    /** A decoder for a stream of generated ids that emits only complete UTF-8 text. */
    public StreamDecoder newStreamDecoder(boolean special) {
        return new StreamDecoder(this, special);
    }

    /** The piece bytes without copying, for the stream decoder; empty for hidden special tokens. */
    byte[] pieceView(int id, boolean special) {
        checkId(id);
        if (!special && (attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) return EMPTY;
        return pieces[id];
    }

    private static final byte[] EMPTY = new byte[0];

    private void checkId(int id) {
        if (id < 0 || id >= textBytes.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + textBytes.length + ")");
        }
    }

    // ---------------------------------------------------------------- facts

    public Kind kind() {
        return kind;
    }

    /** The {@code tokenizer.ggml.pre} value for BPE ("" when absent), "" for SentencePiece. */
    public String preTokenizer() {
        return preName;
    }

    public int vocabSize() {
        return textBytes.length;
    }

    /** Beginning-of-sequence id, or -1. */
    public int bos() {
        return bos;
    }

    /** End-of-sequence id, or -1. */
    public int eos() {
        return eos;
    }

    /** End-of-turn id (e.g. {@code <|eot_id|>}, {@code <|im_end|>}), or -1. */
    public int eot() {
        return eot;
    }

    /** End-of-message id ({@code <|eom_id|>}), or -1. */
    public int eom() {
        return eom;
    }

    public int unk() {
        return unk;
    }

    public int pad() {
        return pad;
    }

    public boolean addsBos() {
        return addBos;
    }

    public boolean addsEos() {
        return addEos;
    }

    /** Whether generation stops at this token, as llama.cpp's {@code llama_vocab_is_eog}. */
    public boolean isEndOfGeneration(int id) {
        return Arrays.binarySearch(endOfGeneration, id) >= 0;
    }

    /** All end-of-generation ids, ascending. */
    public int[] endOfGenerationIds() {
        return endOfGeneration.clone();
    }

    /** The token's text as stored in the vocabulary (byte-level BPE tokens in GPT-2's alphabet). */
    public String tokenText(int id) {
        checkId(id);
        return new String(textBytes[id], StandardCharsets.UTF_8);
    }

    /** The id of the token with exactly this text (the last one if several), or -1. */
    public int tokenId(String text) {
        byte[] t = text.getBytes(StandardCharsets.UTF_8);
        for (int id = textBytes.length - 1; id >= 0; id--) if (Arrays.equals(textBytes[id], t)) return id;
        return -1;
    }

    /** Control or unknown: hidden from text unless asked for (e.g. {@code <|eot_id|>}). */
    public boolean isControl(int id) {
        checkId(id);
        return (attrs[id] & (ATTR_CONTROL | ATTR_UNKNOWN)) != 0;
    }

    int attr(int id) {
        return attrs[id];
    }
}
