/** Every scenario, by name (the order of a run is SCENARIO_NAMES in lib/args.ts). */
import type { ScenarioName } from '../lib/args';
import type { Scenario } from '../lib/results';
import { blobHashing } from './blob-hashing';
import { brokerAltinn2Rest1gb } from './broker-altinn2-rest-1gb';
import { brokerDoorThreads } from './broker-door-threads';
import { brokerLoad } from './broker-load';
import { brokerSoap1gb } from './broker-soap-1gb';
import { brokerStream1gb } from './broker-stream-1gb';
import { brokerTus1gb } from './broker-tus-1gb';
import { encrypt1gb } from './encrypt-1gb';
import { formtask10x1mb } from './formtask-10x1mb';
import { list500 } from './list-500';
import { objectStore1gb } from './object-store-1gb';
import { purge } from './purge';
import { queueScale } from './queue-scale';
import { scaleOut2x } from './scale-out-2x';
import { stream1gb } from './stream-1gb';

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  'stream-1gb': stream1gb,
  'queue-scale': queueScale,
  'list-500': list500,
  'formtask-10x1mb': formtask10x1mb,
  purge,
  'encrypt-1gb': encrypt1gb,
  'blob-hashing': blobHashing,
  'broker-stream-1gb': brokerStream1gb,
  'broker-tus-1gb': brokerTus1gb,
  'broker-load': brokerLoad,
  'broker-altinn2-rest-1gb': brokerAltinn2Rest1gb,
  'broker-soap-1gb': brokerSoap1gb,
  'broker-door-threads': brokerDoorThreads,
  'object-store-1gb': objectStore1gb,
  'scale-out-2x': scaleOut2x,
};
