package io.strata.ops;

import io.strata.engine.gguf.GgufFile;
import io.strata.engine.text.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code strata tokenize}: ids as llama.cpp's {@code llama_tokenize} with add_special gives them. */
@Command(name = "tokenize", description = "Tokenize text with the model's own tokenizer; prints {\"ids\":[...]}.")
public final class TokenizeCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file (only its metadata is read)")
    Path model;

    @Option(names = "--text", required = true, description = "text to tokenize")
    String text;

    @Option(names = "--parse-special", description = "recognise special tokens such as <|eot_id|> in the text")
    boolean parseSpecial;

    @Option(names = "--no-special", description = "do not add BOS/EOS even when the model says so")
    boolean noSpecial;

    @Option(names = "--pieces", description = "also print each token's text")
    boolean pieces;

    @Override
    public Integer call() {
        try (GgufFile file = GgufFile.open(model)) {
            Tokenizer tok = Tokenizer.fromMetadata(file.metadata());
            int[] ids = tok.encode(text, !noSpecial, parseSpecial);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("ids", ids);
            if (pieces) {
                String[] p = new String[ids.length];
                for (int i = 0; i < ids.length; i++) p[i] = tok.decode(new int[]{ids[i]}, true);
                out.put("pieces", p);
            }
            System.out.println(Json.write(out));
        }
        return 0;
    }
}
