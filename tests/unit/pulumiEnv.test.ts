// prepareStackEnv on a lab whose stack `platform deploy` has not created yet: refused for the engine,
// accepted (config copy without a salt) for a caller that runs no engine (drift's host layer).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { prepareStackEnv, StackEnvError } from "../../lib/pulumiEnv";

const root = path.resolve(__dirname, "../..");

describe("prepareStackEnv before the lab stack exists", () => {
  let lab: string;
  beforeEach(() => (lab = fs.mkdtempSync(path.join(os.tmpdir(), "no-stack-lab-"))));
  afterEach(() => fs.rmSync(lab, { recursive: true, force: true }));

  it("refuses a caller that runs the engine, naming the fix", () => {
    expect(() => prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false })).toThrow(StackEnvError);
    expect(() => prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false })).toThrow(/platform deploy lab creates it/);
  });

  it("gives a caller that runs no engine the lab's config copy, without a salt", () => {
    const se = prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false, engine: false });
    try {
      const text = fs.readFileSync(se.configFile, "utf8");
      expect(text).toContain("platform:hostAddress");
      expect(text).not.toContain("encryptionsalt");
      expect(se.envVars.PULUMI_BACKEND_URL).toBe(`file://${path.join(lab, "pulumi-state")}`);
      // Never a download; Pulumi's Kubernetes objects win field conflicts (ADR 0015).
      expect(se.envVars).toMatchObject({ PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true", PULUMI_K8S_ENABLE_PATCH_FORCE: "true" });
    } finally {
      se.cleanup();
    }
  });
});
