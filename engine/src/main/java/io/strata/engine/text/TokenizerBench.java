package io.strata.engine.text;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Tokenizer speed: how long a prompt of about 32K tokens takes to encode (and to decode back), median of several
 * runs after warm-up. A benchmark, not a test:
 *
 * <pre>java --add-modules jdk.incubator.vector -cp engine/target/classes io.strata.engine.text.TokenizerBench \
 *     fixtures/vocab/llama1b-vocab.gguf.gz [tokens=32768] [runs=7]</pre>
 *
 * The text mixes English prose, code, numbers and non-Latin scripts; it is repeated until it has enough tokens.
 */
public final class TokenizerBench {
    private static final String PARAGRAPH = """
            The llama is a domesticated South American camelid, widely used as a meat and pack animal by Andean \
            cultures since the pre-Columbian era. Llamas are social animals and live with others as a herd.
            def tokenize(text: str) -> list[int]:
                return [vocab[w] for w in text.split()]  # 1234567 tokens, 3.14159 seconds
            Unicode: café naïve 日本語のテキスト Привет мир مرحبا 🦙🦙 — "quotes" and 'apostrophes' don't matter.
            """;

    private TokenizerBench() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: TokenizerBench MODEL.gguf[.gz] [tokens=32768] [runs=7]");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        int target = args.length > 1 ? Integer.parseInt(args[1]) : 32768;
        int runs = args.length > 2 ? Integer.parseInt(args[2]) : 7;
        if (model.toString().endsWith(".gz")) model = gunzip(model);

        long t0 = System.nanoTime();
        Tokenizer tok = Tokenizer.fromGguf(model);
        double loadMs = (System.nanoTime() - t0) / 1e6;

        int perParagraph = tok.encode(PARAGRAPH, false, false).length;
        String text = PARAGRAPH.repeat(Math.max(1, (target + perParagraph - 1) / perParagraph));
        int[] ids = tok.encode(text, true, false);

        for (int i = 0; i < 3; i++) tok.encode(text, true, false); // warm-up
        double[] encodeMs = new double[runs];
        double[] decodeMs = new double[runs];
        for (int r = 0; r < runs; r++) {
            long s = System.nanoTime();
            int[] again = tok.encode(text, true, false);
            encodeMs[r] = (System.nanoTime() - s) / 1e6;
            if (again.length != ids.length) throw new IllegalStateException("tokenization is not deterministic");
            s = System.nanoTime();
            StreamDecoder d = tok.newStreamDecoder(false);
            int chars = 0;
            for (int id : ids) chars += d.push(id).length();
            chars += d.finish().length();
            decodeMs[r] = (System.nanoTime() - s) / 1e6;
            if (chars == 0) throw new IllegalStateException("nothing decoded");
        }
        Arrays.sort(encodeMs);
        Arrays.sort(decodeMs);
        System.out.printf("{\"model\":\"%s\",\"vocab\":%d,\"load_ms\":%.1f,\"tokens\":%d,\"bytes\":%d,"
                        + "\"encode_ms_median\":%.1f,\"encode_ms_min\":%.1f,\"encode_tokens_per_s\":%.0f,"
                        + "\"stream_decode_ms_median\":%.1f}%n",
                args[0], tok.vocabSize(), loadMs, ids.length, text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length,
                encodeMs[runs / 2], encodeMs[0], ids.length / (encodeMs[runs / 2] / 1e3), decodeMs[runs / 2]);
    }

    private static Path gunzip(Path gz) throws IOException {
        Path tmp = Files.createTempFile("strata-vocab-", ".gguf");
        tmp.toFile().deleteOnExit();
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        return tmp;
    }
}
