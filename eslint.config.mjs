// Lint TypeScript with the recommended type-aware rules; generated and vendored trees are ignored.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "bin/**", ".lab/**", "evidence/**", "**/*.js", "**/*.mjs", "tests/fixtures/**/node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-syntax": [
        "error",
        {
          selector: "LogicalExpression[operator='||'][right.type='Literal'][right.value=true]",
          message: "`x || true` can never be false: use `??`.",
        },
      ],
    },
  },
  {
    // Dynamic providers are serialized into the state and must require() inside their functions.
    files: ["tests/fixtures/**/*.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
