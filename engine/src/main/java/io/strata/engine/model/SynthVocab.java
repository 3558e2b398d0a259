package io.strata.engine.model;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A synthetic byte-level BPE vocabulary that llama.cpp accepts as {@code tokenizer.ggml.model = "gpt2"}: the same
 * construction as the oracle's {@code vocab.mjs} ({@code buildBpeVocab}), so a vocabulary of the fixtures' size
 * comes out token for token the same as theirs (checked by a test against {@code fixtures/tiny}).
 *
 * <ul>
 *   <li>ids 0..255: the 256 byte tokens in GPT-2's {@code bytes_to_unicode} order ("!" is 0, space "Ġ" is 220);</li>
 *   <li>then merged tokens: BPE merges learned from {@link #CORPUS} (the most frequent adjacent pair seen at least
 *       twice, ties to the smallest pair), then filler merges spelling out lowercase strings ("Ġa".."Ġz", "aa"..,
 *       "Ġaa"..) until the vocabulary is full;</li>
 *   <li>last: control tokens {@code <|begin_of_text|>} (BOS), {@code <|end_of_text|>} (EOS),
 *       {@code <|start_header_id|>}, {@code <|end_header_id|>}, {@code <|eot_id|>}, then
 *       {@code <|reserved_special_token_N|>}: 8 in all, or 256 when the vocabulary has at least 128256 entries (then
 *       BOS is 128000, as in Llama 3).</li>
 * </ul>
 *
 * @param tokens    token texts by id
 * @param tokenType llama.cpp token types by id (1 normal, 3 control)
 * @param merges    merge rules "a b" in rank order
 * @param bos       BOS id ({@code <|begin_of_text|>})
 * @param eos       EOS id ({@code <|end_of_text|>})
 * @param addBos    whether llama.cpp adds BOS when tokenizing ({@code tokenizer.ggml.add_bos_token})
 */
public record SynthVocab(String[] tokens, int[] tokenType, String[] merges, int bos, int eos, boolean addBos) {

    public static final int NORMAL = 1;
    public static final int CONTROL = 3;
    public static final int USER_DEFINED = 4;

    /**
     * The vocabulary for a {@code tokenizer.ggml.pre}: {@code llama-bpe} is {@link #bpe}; {@code qwen2} is the same
     * merges with Qwen2's ChatML tokens over the first control tokens ({@code <|endoftext|>} BOS,
     * {@code <|im_start|>}, {@code <|im_end|>} EOS, {@code <tool_call>} user-defined, {@code <|fim_pad|>}) and no
     * BOS added, as the tokenizer fixture {@code fixtures/vocab/qwen2-vocab.gguf} has it.
     */
    public static SynthVocab forPre(String pre, int size) {
        SynthVocab v = bpe(size);
        return switch (pre) {
            case "llama-bpe" -> v;
            case "qwen2" -> {
                String[] tokens = v.tokens().clone();
                int[] types = v.tokenType().clone();
                String[] names = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "<|fim_pad|>"};
                for (int i = 0; i < names.length; i++) {
                    tokens[v.bos() + i] = names[i];
                    types[v.bos() + i] = names[i].equals("<tool_call>") ? USER_DEFINED : CONTROL;
                }
                yield new SynthVocab(tokens, types, v.merges(), v.bos(), v.bos() + 2, false);
            }
            default -> throw new IllegalArgumentException("no synthetic vocabulary for tokenizer.ggml.pre '" + pre + "'");
        };
    }

    /** The training text (the oracle's {@code CORPUS}, line breaks included). */
    public static final String CORPUS = """
            The llama is a domesticated South American camelid, widely used as a meat and pack
            animal by Andean cultures since the pre-Columbian era. Llamas are social animals and live with
            others as a herd. Their wool is soft and contains only a small amount of lanolin. Llamas can learn
            simple tasks after a few repetitions. When using a pack, they can carry about 25 to 30% of their body
            weight for 8 to 13 km. The name llama was adopted by European settlers from native Peruvians.
            The ancestors of llamas are thought to have originated from the Great Plains of North America about
            40 million years ago, and subsequently migrated to South America about three million years ago during
            the Great American Interchange. By the end of the last ice age, camelids were extinct in North America.
            In the beginning there was the model, and the model was small, and it was the test of the engine.
            Hello world! It's a test: numbers 12345, 3.14159 and 1,000,000; symbols @#$%^&*() and "quotes".
            Don't stop; we'll see what they've done. I'm sure you're right, isn't it?""";

    /** Llama 3's pre-tokenizer split (contractions in both cases, as the oracle writes it for JavaScript). */
    private static final Pattern LLAMA3_SPLIT = Pattern.compile(
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
                    + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");

    /** Builds the vocabulary of {@code size} tokens (at least 256 + the control tokens + 1). */
    public static SynthVocab bpe(int size) {
        int nSpecial = size >= 128256 ? 256 : 8;
        if (size < 256 + nSpecial) throw new IllegalArgumentException("vocabulary of " + size + " tokens: needs at least " + (256 + nSpecial));
        String[] byteChar = bytesToUnicode();
        List<String> tokens = new ArrayList<>(size);
        Set<String> have = new HashSet<>();
        for (String c : byteTokens()) {
            tokens.add(c);
            have.add(c);
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        Matcher m = LLAMA3_SPLIT.matcher(CORPUS);
        while (m.find()) counts.merge(m.group(), 1, Integer::sum);
        List<Word> words = new ArrayList<>();
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            byte[] utf8 = e.getKey().getBytes(StandardCharsets.UTF_8);
            List<String> symbols = new ArrayList<>(utf8.length);
            for (byte b : utf8) symbols.add(byteChar[b & 0xff]);
            words.add(new Word(symbols, e.getValue()));
        }
        int nMerges = size - nSpecial - tokens.size();
        List<String[]> merges = train(words, nMerges, have);
        fill(merges, nMerges, have, byteChar[0x20]);
        String[] mergeRules = new String[merges.size()];
        for (int i = 0; i < merges.size(); i++) {
            tokens.add(merges.get(i)[0] + merges.get(i)[1]);
            mergeRules[i] = merges.get(i)[0] + " " + merges.get(i)[1];
        }
        int bos = tokens.size();
        tokens.addAll(specialNames(nSpecial));
        int[] types = new int[tokens.size()];
        for (int i = 0; i < types.length; i++) types[i] = i < bos ? NORMAL : CONTROL;
        return new SynthVocab(tokens.toArray(String[]::new), types, mergeRules, bos, bos + 1, true);
    }

    public int size() {
        return tokens.length;
    }

    private record Word(List<String> symbols, int count) {}

    /** GPT-2's reversible byte to printable character map, indexed by byte value. */
    static String[] bytesToUnicode() {
        String[] map = new String[256];
        int n = 0;
        for (int b = 0; b < 256; b++) map[b] = Character.toString(printable(b) ? b : 256 + n++);
        return map;
    }

    /** The byte tokens in id order: the printable bytes ascending, then the others ascending (GPT-2's order). */
    static String[] byteTokens() {
        String[] map = bytesToUnicode();
        String[] order = new String[256];
        int i = 0;
        for (int b = 0; b < 256; b++) if (printable(b)) order[i++] = map[b];
        for (int b = 0; b < 256; b++) if (!printable(b)) order[i++] = map[b];
        return order;
    }

    private static boolean printable(int b) {
        return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    }

    /** Plain BPE training: the most frequent pair seen at least twice, ties to the smallest "a\0b". */
    private static List<String[]> train(List<Word> words, int maxMerges, Set<String> have) {
        List<String[]> merges = new ArrayList<>();
        while (merges.size() < maxMerges) {
            Map<String, Integer> counts = new HashMap<>();
            for (Word w : words) {
                List<String> s = w.symbols();
                for (int i = 0; i + 1 < s.size(); i++) counts.merge(s.get(i) + '\u0000' + s.get(i + 1), w.count(), Integer::sum);
            }
            String best = null;
            int bestCount = 1;
            for (Map.Entry<String, Integer> e : counts.entrySet()) {
                String k = e.getKey();
                if (have.contains(k.replace("\u0000", ""))) continue;
                int c = e.getValue();
                if (c > bestCount || (c == bestCount && best != null && k.compareTo(best) < 0)) {
                    best = k;
                    bestCount = c;
                }
            }
            if (best == null) break;
            int cut = best.indexOf('\u0000');
            String a = best.substring(0, cut), b = best.substring(cut + 1);
            merges.add(new String[]{a, b});
            have.add(a + b);
            for (int wi = 0; wi < words.size(); wi++) {
                List<String> s = words.get(wi).symbols();
                List<String> out = new ArrayList<>(s.size());
                for (int i = 0; i < s.size(); i++) {
                    if (i + 1 < s.size() && s.get(i).equals(a) && s.get(i + 1).equals(b)) {
                        out.add(a + b);
                        i++;
                    } else {
                        out.add(s.get(i));
                    }
                }
                words.set(wi, new Word(out, words.get(wi).count()));
            }
        }
        return merges;
    }

    /** Filler merges spelling lowercase strings, shortest first: (prefix, last letter), plain then after a space. */
    private static void fill(List<String[]> merges, int nMerges, Set<String> have, String space) {
        List<String> level = List.of("");
        while (merges.size() < nMerges) {
            List<String> next = new ArrayList<>(level.size() * 26);
            for (String p : level) for (char ch = 'a'; ch <= 'z'; ch++) next.add(p + ch);
            for (String s : next) {
                String head = s.substring(0, s.length() - 1), last = s.substring(s.length() - 1);
                if (s.length() >= 2) offer(merges, nMerges, have, head, last);
                offer(merges, nMerges, have, space + head, last);
                if (merges.size() >= nMerges) return;
            }
            level = next;
        }
    }

    private static void offer(List<String[]> merges, int nMerges, Set<String> have, String a, String b) {
        if (merges.size() >= nMerges || have.contains(a + b) || !have.contains(a) || !have.contains(b)) return;
        merges.add(new String[]{a, b});
        have.add(a + b);
    }

    private static List<String> specialNames(int n) {
        List<String> out = new ArrayList<>(List.of("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>").subList(0, Math.min(5, n)));
        for (int i = 0; out.size() < n; i++) out.add("<|reserved_special_token_" + i + "|>");
        return out;
    }
}
